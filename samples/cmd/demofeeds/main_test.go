package main

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// The committed demo feeds are what this program writes (regenerate with
// `go run ./samples/cmd/demofeeds` from the repository root).
func TestCommittedFeedsAreCurrent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := writeAll(dir); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= len(nights()); i++ {
		name := fmt.Sprintf("night%d.xml", i)
		want, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join("..", "..", "demo", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("samples/demo/%s is stale: run go run ./samples/cmd/demofeeds", name)
		}
	}
}

// story is what a night's file holds, read back with encoding/xml.
type story struct {
	persons     map[string]string // key → fn
	groups      map[string]string // key → typevalue
	memberships map[[3]string]bool
}

func readNight(t *testing.T, n int) story {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "demo", fmt.Sprintf("night%d.xml", n)))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		XMLName    xml.Name `xml:"enterprise"`
		DataSource string   `xml:"properties>datasource"`
		Persons    []struct {
			ID string `xml:"sourcedid>id"`
			FN string `xml:"name>fn"`
		} `xml:"person"`
		Groups []struct {
			ID     string `xml:"sourcedid>id"`
			Type   string `xml:"grouptype>typevalue"`
			Parent string `xml:"relationship>sourcedid>id"`
		} `xml:"group"`
		Memberships []struct {
			ID      string `xml:"sourcedid>id"`
			Members []struct {
				ID   string `xml:"sourcedid>id"`
				Role struct {
					Type string `xml:"roletype,attr"`
				} `xml:"role"`
			} `xml:"member"`
		} `xml:"membership"`
	}
	d := xml.NewDecoder(bytes.NewReader(data))
	if err := d.Decode(&doc); err != nil {
		t.Fatalf("night%d.xml: %v", n, err)
	}
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if cd, ok := tok.(xml.CharData); err != nil || !ok || len(bytes.TrimSpace(cd)) > 0 {
			t.Fatalf("night%d.xml: content after </enterprise>: %v %v", n, tok, err)
		}
	}
	if doc.DataSource != "northside-sis" {
		t.Fatalf("night%d.xml: datasource %q", n, doc.DataSource)
	}
	s := story{map[string]string{}, map[string]string{}, map[[3]string]bool{}}
	for _, p := range doc.Persons {
		if _, dup := s.persons[p.ID]; dup {
			t.Fatalf("night%d.xml: duplicate person %s", n, p.ID)
		}
		s.persons[p.ID] = p.FN
	}
	for _, g := range doc.Groups {
		s.groups[g.ID] = g.Type
	}
	for _, g := range doc.Groups {
		if _, ok := s.groups[g.Parent]; !ok {
			t.Fatalf("night%d.xml: group %s has unknown parent %q", n, g.ID, g.Parent)
		}
	}
	for _, m := range doc.Memberships {
		if _, ok := s.groups[m.ID]; !ok {
			t.Fatalf("night%d.xml: membership of unknown group %s", n, m.ID)
		}
		for _, x := range m.Members {
			if _, ok := s.persons[x.ID]; !ok {
				t.Fatalf("night%d.xml: %s in %s is not a person in the file", n, x.ID, m.ID)
			}
			k := [3]string{m.ID, x.ID, x.Role.Type}
			if s.memberships[k] {
				t.Fatalf("night%d.xml: duplicate membership %v", n, k)
			}
			s.memberships[k] = true
		}
	}
	return s
}

// diff lists keys in a but not in b.
func diff[K comparable, V any](a, b map[K]V) []K {
	var out []K
	for k := range a {
		if _, ok := b[k]; !ok {
			out = append(out, k)
		}
	}
	return out
}

func TestStory(t *testing.T) {
	t.Parallel()
	n := make([]story, 6)
	for i := 1; i <= 5; i++ {
		n[i] = readNight(t, i)
	}
	pupils := func(s story) (c int) {
		for k := range s.persons {
			if k[0] == 'P' {
				c++
			}
		}
		return c
	}
	// Night 1: an initial load of about the size the demo promises.
	if p, g, m := len(n[1].persons), len(n[1].groups), len(n[1].memberships); p != 60 || g != 12 || m != 147 {
		t.Errorf("night 1: %d persons, %d groups, %d memberships; want 60, 12, 147", p, g, m)
	}
	courses := 0
	for _, tv := range n[1].groups {
		if tv == "Course" {
			courses++
		}
	}
	if courses != 5 {
		t.Errorf("night 1: %d courses, want 5", courses)
	}
	// Night 2: three new pupils, one leaver, two renames.
	if got := diff(n[2].persons, n[1].persons); len(got) != 3 {
		t.Errorf("night 2: new persons %v, want 3", got)
	}
	if got := diff(n[1].persons, n[2].persons); len(got) != 1 || got[0] != "P1010" {
		t.Errorf("night 2: leavers %v, want [P1010]", got)
	}
	renamed := 0
	for k, fn := range n[2].persons {
		if old, ok := n[1].persons[k]; ok && old != fn {
			renamed++
		}
	}
	if renamed != 2 {
		t.Errorf("night 2: %d renames, want 2", renamed)
	}
	// Night 3: half the pupils are missing, with their memberships; nothing else changed.
	lost := diff(n[2].persons, n[3].persons)
	if len(lost)*2 != pupils(n[2]) || len(diff(n[3].persons, n[2].persons)) != 0 {
		t.Errorf("night 3: lost %d of %d pupils, want half and nothing new", len(lost), pupils(n[2]))
	}
	for _, k := range lost {
		if k[0] != 'P' {
			t.Errorf("night 3: lost %s, want only pupils", k)
		}
	}
	for k := range n[2].memberships {
		_, kept := n[3].persons[k[1]]
		if kept != n[3].memberships[k] {
			t.Errorf("night 3: membership %v: person kept %v, membership kept %v", k, kept, !kept)
		}
	}
	// Night 4: night 2 plus P1010 back in the groups he had on night 1.
	if got := diff(n[4].persons, n[2].persons); len(got) != 1 || got[0] != "P1010" || len(diff(n[2].persons, n[4].persons)) != 0 {
		t.Errorf("night 4: persons beyond night 2: %v, want [P1010]", got)
	}
	for k := range n[1].memberships {
		if k[1] == "P1010" && !n[4].memberships[k] {
			t.Errorf("night 4: P1010 is back without membership %v", k)
		}
	}
	// Night 5: two courses ended; everything else as night 4.
	gone := diff(n[4].groups, n[5].groups)
	if len(gone) != 2 || n[4].groups[gone[0]] != "Course" || n[4].groups[gone[1]] != "Course" {
		t.Errorf("night 5: groups gone %v, want two courses", gone)
	}
	for k := range n[4].memberships {
		_, kept := n[5].groups[k[0]]
		if kept != n[5].memberships[k] {
			t.Errorf("night 5: membership %v: group kept %v, membership kept %v", k, kept, !kept)
		}
	}
	if len(n[5].persons) != len(n[4].persons) {
		t.Errorf("night 5: %d persons, want night 4's %d", len(n[5].persons), len(n[4].persons))
	}
}
