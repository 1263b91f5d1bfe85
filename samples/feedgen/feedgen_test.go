package feedgen

import (
	"bytes"
	"crypto/sha256"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

// The test reads feeds back with encoding/xml, independently of the generator's own code.

type xSourcedID struct {
	Source string `xml:"source"`
	ID     string `xml:"id"`
}

type xPerson struct {
	SourcedID xSourcedID `xml:"sourcedid"`
	UserID    string     `xml:"userid"`
	FN        string     `xml:"name>fn"`
	Family    string     `xml:"name>n>family"`
	Given     string     `xml:"name>n>given"`
	Email     string     `xml:"email"`
}

type xGroup struct {
	SourcedID xSourcedID `xml:"sourcedid"`
	TypeValue string     `xml:"grouptype>typevalue"`
	Short     string     `xml:"description>short"`
	Parents   []struct {
		Relation  string     `xml:"relation,attr"`
		SourcedID xSourcedID `xml:"sourcedid"`
	} `xml:"relationship"`
}

type xMembership struct {
	SourcedID xSourcedID `xml:"sourcedid"`
	Members   []struct {
		SourcedID xSourcedID `xml:"sourcedid"`
		IDType    string     `xml:"idtype"`
		Role      struct {
			RoleType string `xml:"roletype,attr"`
			Status   string `xml:"status"`
		} `xml:"role"`
	} `xml:"member"`
}

type mkey struct{ group, member, role string }

type feed struct {
	persons     map[string]xPerson
	order       []string // person keys in file order
	groups      map[string]xGroup
	types       map[string]int // typevalue → groups
	memberships map[mkey]bool
	byGroup     map[string]int // group → members
}

func gen(t *testing.T, o Options) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, o); err != nil {
		t.Fatalf("Write(%+v): %v", o, err)
	}
	return b.Bytes()
}

// parse checks well-formedness and the references between records, and returns what it read.
func parse(t *testing.T, data []byte) *feed {
	t.Helper()
	if !utf8.Valid(data) {
		t.Fatal("feed is not valid UTF-8")
	}
	f := &feed{persons: map[string]xPerson{}, groups: map[string]xGroup{}, types: map[string]int{},
		memberships: map[mkey]bool{}, byGroup: map[string]int{}}
	d := xml.NewDecoder(bytes.NewReader(data))
	var mss []xMembership
	depth := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			line, col := d.InputPos()
			t.Fatalf("not well-formed at %d:%d: %v", line, col, err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 1 && tok.Name.Local != "enterprise" {
				t.Fatalf("root is <%s>", tok.Name.Local)
			}
			if depth != 2 {
				continue
			}
			var err error
			switch tok.Name.Local {
			case "person":
				var p xPerson
				err = d.DecodeElement(&p, &tok)
				if _, dup := f.persons[p.SourcedID.ID]; dup {
					t.Fatalf("duplicate person %s", p.SourcedID.ID)
				}
				f.persons[p.SourcedID.ID] = p
				f.order = append(f.order, p.SourcedID.ID)
			case "group":
				var g xGroup
				err = d.DecodeElement(&g, &tok)
				if _, dup := f.groups[g.SourcedID.ID]; dup {
					t.Fatalf("duplicate group %s", g.SourcedID.ID)
				}
				f.groups[g.SourcedID.ID] = g
				f.types[g.TypeValue]++
			case "membership":
				var m xMembership
				err = d.DecodeElement(&m, &tok)
				mss = append(mss, m)
			default:
				err = d.Skip()
			}
			if err != nil {
				t.Fatal(err)
			}
			depth--
		case xml.EndElement:
			depth--
		}
	}
	for id, g := range f.groups {
		if len(g.Parents) != 1 || g.Parents[0].Relation != "1" {
			t.Fatalf("group %s: want one parent relationship, got %+v", id, g.Parents)
		}
		p := g.Parents[0].SourcedID.ID
		if _, ok := f.groups[p]; !ok {
			t.Fatalf("group %s: parent %s is not in the feed", id, p)
		}
		if (p == id) != (g.TypeValue == "SchoolOwner") {
			t.Fatalf("group %s (%s) has parent %s: only the school owner is its own parent", id, g.TypeValue, p)
		}
	}
	for _, m := range mss {
		g := m.SourcedID.ID
		if tv := f.groups[g].TypeValue; tv != "Class" && tv != "Course" {
			t.Fatalf("membership of group %q (type %q): want a class or course", g, tv)
		}
		for _, x := range m.Members {
			k := mkey{g, x.SourcedID.ID, x.Role.RoleType}
			if _, ok := f.persons[k.member]; !ok {
				t.Fatalf("membership %v: member is not a person in the feed", k)
			}
			if x.IDType != "1" || x.Role.Status != "1" {
				t.Fatalf("membership %v: idtype %q status %q", k, x.IDType, x.Role.Status)
			}
			if f.memberships[k] {
				t.Fatalf("duplicate membership %v", k)
			}
			wantRole := map[byte]string{'T': "02", 'P': "01"}[k.member[0]]
			if k.role != wantRole {
				t.Fatalf("membership %v: a %c… person should have role %s", k, k.member[0], wantRole)
			}
			f.memberships[k] = true
			f.byGroup[g]++
		}
	}
	return f
}

func TestDeterministic(t *testing.T) {
	t.Parallel()
	o := Options{Persons: 3000, Groups: 120, MembersPerGroup: 25, Seed: 42, DropPercent: 3, RenamePercent: 2, Night: 4}
	a, b := sha256.Sum256(gen(t, o)), sha256.Sum256(gen(t, o))
	if a != b {
		t.Fatal("the same options gave different bytes")
	}
	o.Seed = 43
	if c := sha256.Sum256(gen(t, o)); c == a {
		t.Fatal("another seed gave the same bytes")
	}
}

func TestCounts(t *testing.T) {
	t.Parallel()
	o := Options{Persons: 6000, Groups: 260, MembersPerGroup: 30, Seed: 1}
	f := parse(t, gen(t, o))
	if len(f.persons) != o.Persons {
		t.Errorf("persons: got %d, want %d", len(f.persons), o.Persons)
	}
	if len(f.groups) != o.Groups {
		t.Errorf("groups: got %d, want %d", len(f.groups), o.Groups)
	}
	// 260 groups: 1 owner, 5 schools (one per 50), 254 classes and courses alternating.
	want := map[string]int{"SchoolOwner": 1, "School": 5, "Class": 127, "Course": 127}
	for tv, n := range want {
		if f.types[tv] != n {
			t.Errorf("%s groups: got %d, want %d (all: %v)", tv, f.types[tv], n, f.types)
		}
	}
	teaching := f.types["Class"] + f.types["Course"]
	if got, want := len(f.memberships), teaching*o.MembersPerGroup; got != want {
		t.Errorf("memberships: got %d, want %d classes and courses × %d", got, want, o.MembersPerGroup)
	}
	for g, n := range f.byGroup {
		if n != o.MembersPerGroup {
			t.Errorf("group %s has %d members, want %d", g, n, o.MembersPerGroup)
		}
	}
	teachers := 0
	for k, p := range f.persons {
		if k[0] == 'T' {
			teachers++
		}
		if p.FN != p.Given+" "+p.Family || p.Given == "" || p.Family == "" {
			t.Errorf("person %s: fn %q, given %q, family %q", k, p.FN, p.Given, p.Family)
		}
		if !strings.HasPrefix(p.Email, p.UserID+"@") || !strings.EqualFold(p.UserID, k) {
			t.Errorf("person %s: userid %q, email %q", k, p.UserID, p.Email)
		}
	}
	if teachers != 500 {
		t.Errorf("teachers: got %d, want 500 (one per 12 persons)", teachers)
	}
}

// A tiny feed still references only what it holds; members are capped by the school's pupils.
func TestSmall(t *testing.T) {
	t.Parallel()
	f := parse(t, gen(t, Options{Persons: 10, Groups: 4, MembersPerGroup: 50, Seed: 3}))
	if len(f.persons) != 10 || len(f.groups) != 4 || f.types["School"] != 1 {
		t.Fatalf("persons %d, groups %d, types %v", len(f.persons), len(f.groups), f.types)
	}
	// 1 teacher + all 9 pupils in each of the 2 teaching groups.
	if len(f.memberships) != 2*10 {
		t.Fatalf("memberships: got %d, want 20", len(f.memberships))
	}
}

func TestDrop(t *testing.T) {
	t.Parallel()
	o := Options{Persons: 6000, Groups: 200, MembersPerGroup: 30, Seed: 5}
	base := parse(t, gen(t, o))
	o.DropPercent = 50
	half := parse(t, gen(t, o))
	if n := len(half.persons); n < 2700 || n > 3300 {
		t.Fatalf("50%% drop kept %d of 6000 persons", n)
	}
	for k, p := range half.persons {
		if base.persons[k] != p {
			t.Fatalf("person %s differs after a drop: %+v vs %+v", k, p, base.persons[k])
		}
	}
	// Every membership of a kept person is still there (parse checked that no others are).
	kept := 0
	for k := range base.memberships {
		if _, ok := half.persons[k.member]; ok {
			kept++
			if !half.memberships[k] {
				t.Fatalf("membership %v of a kept person is missing", k)
			}
		}
	}
	if kept != len(half.memberships) {
		t.Fatalf("memberships: %d, want the %d of kept persons", len(half.memberships), kept)
	}
	if len(half.groups) != len(base.groups) {
		t.Fatalf("groups: %d, want all %d", len(half.groups), len(base.groups))
	}
}

func TestRename(t *testing.T) {
	t.Parallel()
	o := Options{Persons: 6000, Groups: 100, MembersPerGroup: 20, Seed: 9}
	base := parse(t, gen(t, o))
	o.RenamePercent = 10
	ren := parse(t, gen(t, o))
	if len(ren.persons) != len(base.persons) || len(ren.memberships) != len(base.memberships) {
		t.Fatalf("rename changed counts: %d persons, %d memberships", len(ren.persons), len(ren.memberships))
	}
	renamed := 0
	for k, p := range ren.persons {
		b, ok := base.persons[k]
		if !ok {
			t.Fatalf("person %s is new after a rename", k)
		}
		if p == b {
			continue
		}
		renamed++
		if p.Family == b.Family || p.Given != b.Given || p.FN != p.Given+" "+p.Family ||
			p.UserID != b.UserID || p.Email != b.Email {
			t.Fatalf("person %s: a rename changes family name and fn only: %+v → %+v", k, b, p)
		}
	}
	if renamed < 480 || renamed > 720 { // 10 % of 6000, binomial σ ≈ 23
		t.Fatalf("10%% rename changed %d of 6000 persons", renamed)
	}
	for k := range base.memberships {
		if !ren.memberships[k] {
			t.Fatalf("membership %v lost by a rename", k)
		}
	}
}

func TestNights(t *testing.T) {
	t.Parallel()
	o := Options{Persons: 12000, Groups: 200, MembersPerGroup: 20, Seed: 11}
	nights := make([]*feed, 5)
	for n := 1; n <= 4; n++ {
		o.Night = n
		nights[n] = parse(t, gen(t, o))
	}
	o.Night = 0
	if !bytes.Equal(gen(t, o), gen(t, Options{Persons: 12000, Groups: 200, MembersPerGroup: 20, Seed: 11, Night: 1})) {
		t.Fatal("night 0 should be night 1")
	}
	pupils := 12000 - 1000
	perNight := pupils * 5 / 1000 // 0.5 %
	for n := 2; n <= 4; n++ {
		prev, cur := nights[n-1], nights[n]
		var left, arrived []string
		for k := range prev.persons {
			if _, ok := cur.persons[k]; !ok {
				left = append(left, k)
			}
		}
		for k := range cur.persons {
			if _, ok := prev.persons[k]; !ok {
				arrived = append(arrived, k)
			}
		}
		if len(arrived) != perNight {
			t.Errorf("night %d: %d new pupils, want %d", n, len(arrived), perNight)
		}
		if len(left) < perNight/2 || len(left) > perNight*2 {
			t.Errorf("night %d: %d leavers, want about %d", n, len(left), perNight)
		}
		for _, k := range append(left, arrived...) {
			if k[0] != 'P' {
				t.Errorf("night %d: %s came or went, but only pupils churn", n, k)
			}
		}
		// Leavers stay gone.
		for k := range nights[1].persons {
			if _, ok := prev.persons[k]; !ok {
				if _, back := cur.persons[k]; back {
					t.Errorf("night %d: leaver %s came back", n, k)
				}
			}
		}
		// New pupils join classes or courses; nothing else about continuing members changes.
		joined := map[string]int{}
		for k := range cur.memberships {
			if _, ok := prev.persons[k.member]; ok && !prev.memberships[k] {
				t.Errorf("night %d: continuing person got membership %v", n, k)
			}
			joined[k.member]++
		}
		for _, k := range arrived {
			if joined[k] == 0 {
				t.Errorf("night %d: new pupil %s is in no class or course", n, k)
			}
		}
		if len(cur.groups) != len(prev.groups) {
			t.Errorf("night %d: groups %d, want %d", n, len(cur.groups), len(prev.groups))
		}
	}
}

func TestBadOptions(t *testing.T) {
	t.Parallel()
	for _, o := range []Options{
		{Persons: 1, Groups: 10},
		{Persons: 100, Groups: 1},
		{Persons: 100, Groups: 10, MembersPerGroup: -1},
		{Persons: 100, Groups: 10, DropPercent: 101},
		{Persons: 100, Groups: 10, RenamePercent: -1},
		{Persons: 100, Groups: 10, Night: -2},
	} {
		var b bytes.Buffer
		if err := Write(&b, o); err == nil || b.Len() != 0 {
			t.Errorf("Write(%+v): err %v, %d bytes written; want an error and nothing", o, err, b.Len())
		}
	}
}

// Names are written unescaped, so none may hold an XML special character.
func TestNamesNeedNoEscaping(t *testing.T) {
	t.Parallel()
	for _, n := range append(givenNames[:], familyNames[:]...) {
		if strings.ContainsAny(n, `<>&"'`) || !utf8.ValidString(n) || n == "" {
			t.Errorf("name %q must be non-empty UTF-8 without XML specials", n)
		}
	}
}

// writeLog records how the generator writes: it must stream in small chunks, not build the
// file in memory, and stop at the first write error.
type writeLog struct {
	total, largest, failAfter int
}

var errDiskFull = errors.New("disk full")

func (w *writeLog) Write(p []byte) (int, error) {
	if w.failAfter > 0 && w.total+len(p) > w.failAfter {
		return 0, errDiskFull
	}
	w.total += len(p)
	w.largest = max(w.largest, len(p))
	return len(p), nil
}

func TestStreams(t *testing.T) {
	t.Parallel()
	o := Options{Persons: 20000, Groups: 200, MembersPerGroup: 60, Seed: 1}
	w := &writeLog{}
	if err := Write(w, o); err != nil {
		t.Fatal(err)
	}
	if w.total < 5<<20 || w.largest > 1<<16 {
		t.Fatalf("wrote %d bytes, largest write %d: want a large feed in writes of at most 64 KiB", w.total, w.largest)
	}
	failing := &writeLog{failAfter: 1 << 20}
	if err := Write(failing, o); !errors.Is(err, errDiskFull) {
		t.Fatalf("a failing writer gave %v, want %v", err, errDiskFull)
	}
}

func BenchmarkWrite(b *testing.B) {
	o := Options{Persons: 15000, Groups: 2000, MembersPerGroup: 75, Seed: 1}
	w := &writeLog{}
	if err := Write(w, o); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(w.total))
	for b.Loop() {
		if err := Write(io.Discard, o); err != nil {
			b.Fatal(err)
		}
	}
}
