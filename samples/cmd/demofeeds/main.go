// Command demofeeds writes the demo feeds in samples/demo: five nights of one school owner,
// "Northside school district" (datasource northside-sis), for `imsfeed demo`:
//
//	night1.xml  initial load: 60 persons, 12 groups (2 schools, 4 classes, 5 courses), 147 memberships
//	night2.xml  an ordinary night: 3 new pupils, 2 renames, 1 leaver (P1010)
//	night3.xml  a broken export: every pupil of Northside Middle School is missing (half of them)
//	night4.xml  back to normal: night 2 again, and P1010 is back
//	night5.xml  end of term: the courses DRAMA5 and ART8 have ended and are gone
//	night6.xml  end of the school year: the middle school's pupils really have left (graduated)
//
// Run `go run ./samples/cmd/demofeeds` from the repository root after changing it; a test
// checks that the committed files are what this program writes.
package main

import (
	"bytes"
	"cmp"
	"encoding/xml"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

const (
	source    = "northside-sis"
	ownerName = "Northside school district"
)

type person struct {
	id, given, family string
	teacher           bool
}

type group struct {
	id, kind, short, long, parent string
	begin, end                    string // course timeframe, empty for others
}

type member struct{ group, person, role string }

type night struct {
	persons []person
	groups  []group
	members []member
}

// The first night. Pupils P1001–P1027 go to Northside Elementary, P1028–P1054 to the middle school.
func night1() night {
	var n night
	teachers := []person{
		{"T101", "Ingrid", "Lund", true}, {"T102", "Marcus", "Webb", true}, {"T103", "Sofia", "Alvarez", true},
		{"T104", "David", "Okafor", true}, {"T105", "Hanna", "Berg", true}, {"T106", "Priya", "Raman", true},
	}
	n.persons = append(n.persons, teachers...)
	given := []string{"Emma", "Liam", "Olivia", "Noah", "Ava", "Elias", "Mia", "Lucas", "Zoë", "Oskar",
		"Amira", "Jonas", "Chloé", "Mateo", "Nora", "Ibrahim", "Freya", "Theo", "Leah", "Håkon",
		"Sara", "Finn", "Maja", "Yusuf", "Alma", "Ethan", "Ida"}
	family := []string{"Hansen", "Johnson", "Nguyen", "Kowalski", "Smith", "Andersen", "García",
		"O'Brien", "Müller", "Patel", "Ødegård", "Brown", "Rossi", "Kim", "Larsen", "Haddad", "Walsh",
		"Novak", "Dubois", "Jensen", "Ahmed", "Schmidt", "Moreno", "Eriksen", "Clarke", "Sato", "Fischer"}
	for i := range 54 {
		// Given names cycle through the list; family names are shifted per school so that no
		// two pupils share a full name.
		g, f := given[i%len(given)], family[(i+(i/len(given))*7)%len(family)]
		n.persons = append(n.persons, person{id: fmt.Sprintf("P%d", 1001+i), given: g, family: f})
	}
	n.groups = []group{
		{id: "NSD", kind: "SchoolOwner", short: ownerName, parent: "NSD"},
		{id: "NS-ELM", kind: "School", short: "Northside Elementary", parent: "NSD"},
		{id: "NS-MID", kind: "School", short: "Northside Middle School", parent: "NSD"},
		{id: "ELM-5A", kind: "Class", short: "5A", long: "Class 5A, Northside Elementary", parent: "NS-ELM"},
		{id: "ELM-5B", kind: "Class", short: "5B", long: "Class 5B, Northside Elementary", parent: "NS-ELM"},
		{id: "MID-8A", kind: "Class", short: "8A", long: "Class 8A, Northside Middle School", parent: "NS-MID"},
		{id: "MID-8B", kind: "Class", short: "8B", long: "Class 8B, Northside Middle School", parent: "NS-MID"},
		{id: "MATH5", kind: "Course", short: "Mathematics 5", long: "Mathematics, year 5", parent: "NS-ELM", begin: "2026-08-17", end: "2027-06-18"},
		{id: "DRAMA5", kind: "Course", short: "Drama 5 (autumn)", long: "Drama, year 5, autumn term", parent: "NS-ELM", begin: "2026-08-17", end: "2026-12-18"},
		{id: "SCI8", kind: "Course", short: "Science 8", long: "Science, year 8", parent: "NS-MID", begin: "2026-08-17", end: "2027-06-18"},
		{id: "HIST8", kind: "Course", short: "History 8", long: "History, year 8", parent: "NS-MID", begin: "2026-08-17", end: "2027-06-18"},
		{id: "ART8", kind: "Course", short: "Art 8 (autumn)", long: "Art, year 8, autumn term", parent: "NS-MID", begin: "2026-08-17", end: "2026-12-18"},
	}
	teach := map[string]string{"ELM-5A": "T101", "ELM-5B": "T102", "MID-8A": "T104", "MID-8B": "T105",
		"MATH5": "T103", "DRAMA5": "T102", "SCI8": "T106", "HIST8": "T104", "ART8": "T105"}
	pupils := func(from, to int) []string { // P<from>..P<to>
		var ids []string
		for i := from; i <= to; i++ {
			ids = append(ids, fmt.Sprintf("P%d", i))
		}
		return ids
	}
	learners := map[string][]string{
		"ELM-5A": pupils(1001, 1014), "ELM-5B": pupils(1015, 1027),
		"MID-8A": pupils(1028, 1041), "MID-8B": pupils(1042, 1054),
		"MATH5":  pupils(1001, 1027),
		"DRAMA5": append(pupils(1003, 1006), pupils(1018, 1021)...),
		"SCI8":   pupils(1028, 1054),
		"HIST8":  pupils(1028, 1041),
		"ART8":   append(pupils(1030, 1033), pupils(1045, 1048)...),
	}
	for _, g := range n.groups {
		if t, ok := teach[g.id]; ok {
			n.members = append(n.members, member{g.id, t, "02"})
		}
		for _, p := range learners[g.id] {
			n.members = append(n.members, member{g.id, p, "01"})
		}
	}
	return n
}

// night2: P1055, P1056 start in 5B (and Mathematics 5), P1057 in 8A (Science 8, History 8);
// P1012 and T105 change family name; P1010 leaves.
func night2(n night) night {
	n = n.clone()
	n.persons = append(n.persons,
		person{id: "P1055", given: "Astrid", family: "Vik"},
		person{id: "P1056", given: "Omar", family: "Farah"},
		person{id: "P1057", given: "Lucía", family: "Herrera"})
	n.members = append(n.members,
		member{"ELM-5B", "P1055", "01"}, member{"MATH5", "P1055", "01"},
		member{"ELM-5B", "P1056", "01"}, member{"MATH5", "P1056", "01"},
		member{"MID-8A", "P1057", "01"}, member{"SCI8", "P1057", "01"}, member{"HIST8", "P1057", "01"})
	n.rename("P1012", "Hansen-Lie")
	n.rename("T105", "Berg Sørensen")
	return n.without(func(p person) bool { return p.id == "P1010" }, nil)
}

func (n night) rename(id, family string) {
	for i := range n.persons {
		if n.persons[i].id == id {
			n.persons[i].family = family
			return
		}
	}
	panic("rename: no person " + id)
}

// middleSchoolPupils says who the broken export of night 3 lost.
func middleSchoolPupils(n night) func(person) bool {
	mid := map[string]bool{}
	for _, m := range n.members {
		if (m.group == "MID-8A" || m.group == "MID-8B") && m.role == "01" {
			mid[m.person] = true
		}
	}
	return func(p person) bool { return mid[p.id] }
}

func (n night) clone() night {
	return night{slices.Clone(n.persons), slices.Clone(n.groups), slices.Clone(n.members)}
}

// without drops the persons and groups matched, and their memberships.
func (n night) without(dropPerson func(person) bool, dropGroup func(group) bool) night {
	gone := map[string]bool{}
	var out night
	for _, p := range n.persons {
		if dropPerson != nil && dropPerson(p) {
			gone[p.id] = true
			continue
		}
		out.persons = append(out.persons, p)
	}
	for _, g := range n.groups {
		if dropGroup != nil && dropGroup(g) {
			gone[g.id] = true
			continue
		}
		out.groups = append(out.groups, g)
	}
	for _, m := range n.members {
		if !gone[m.person] && !gone[m.group] {
			out.members = append(out.members, m)
		}
	}
	return out
}

// nights builds the demo nights.
func nights() []night {
	n1 := night1()
	n2 := night2(n1)
	n3 := n2.without(middleSchoolPupils(n2), nil)
	// Night 4: night 2 again, and the leaver P1010 is back with the classes and courses he had.
	n4 := n2.clone()
	for _, p := range n1.persons {
		if p.id == "P1010" {
			n4.persons = append(n4.persons, p)
		}
	}
	for _, m := range n1.members {
		if m.person == "P1010" {
			n4.members = append(n4.members, m)
		}
	}
	n5 := n4.without(nil, func(g group) bool { return g.id == "DRAMA5" || g.id == "ART8" })
	// Night 6: as large a change as night 3, but real: the 8th graders graduated.
	n6 := n5.without(middleSchoolPupils(n5), nil)
	return []night{n1, n2, n3, n4, n5, n6}
}

// write renders one night: persons sorted by id, groups in hierarchy order, one membership
// element per group.
func (n night) write(num int) []byte {
	var b bytes.Buffer
	esc := func(s string) string {
		var e strings.Builder
		xml.EscapeText(&e, []byte(s)) //nolint:errcheck // a strings.Builder does not fail
		return e.String()
	}
	sid := func(id string) string {
		return "<sourcedid><source>" + source + "</source><id>" + esc(id) + "</id></sourcedid>"
	}
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>
<enterprise>
  <properties>
    <datasource>%s</datasource>
    <type>full</type>
    <datetime>2026-09-%02dT02:00:00</datetime>
  </properties>
`, source, num)
	persons := slices.Clone(n.persons)
	slices.SortFunc(persons, func(a, b person) int { return strings.Compare(a.id, b.id) })
	for _, p := range persons {
		domain, role := "pupil.northside.example.org", "Student"
		if p.teacher {
			domain, role = "northside.example.org", "Faculty"
		}
		userid := strings.ToLower(p.id)
		fmt.Fprintf(&b, `  <person>
    %s
    <userid>%s</userid>
    <name>
      <fn>%s %s</fn>
      <n><family>%s</family><given>%s</given></n>
    </name>
    <email>%s@%s</email>
    <institutionrole institutionroletype="%s" primaryrole="Yes"/>
  </person>
`, sid(p.id), userid, esc(p.given), esc(p.family), esc(p.family), esc(p.given), userid, domain, role)
	}
	level := map[string]int{"SchoolOwner": 1, "School": 2, "Class": 3, "Course": 3}
	labels := map[string]string{}
	for _, g := range n.groups {
		labels[g.id] = g.short
	}
	for _, g := range n.groups {
		fmt.Fprintf(&b, "  <group>\n    %s\n    <grouptype><scheme>%s</scheme><typevalue level=\"%d\">%s</typevalue></grouptype>\n",
			sid(g.id), source, level[g.kind], g.kind)
		b.WriteString("    <description><short>" + esc(g.short) + "</short>")
		if g.long != "" {
			b.WriteString("<long>" + esc(g.long) + "</long>")
		}
		b.WriteString("</description>\n")
		if g.begin != "" {
			fmt.Fprintf(&b, "    <timeframe><begin restrict=\"0\">%s</begin><end restrict=\"0\">%s</end></timeframe>\n", g.begin, g.end)
		}
		fmt.Fprintf(&b, "    <relationship relation=\"1\">\n      %s\n      <label>%s</label>\n    </relationship>\n  </group>\n",
			sid(g.parent), esc(labels[g.parent]))
	}
	for _, g := range n.groups {
		var ms []member
		for _, m := range n.members {
			if m.group == g.id {
				ms = append(ms, m)
			}
		}
		if len(ms) == 0 {
			continue
		}
		// Instructors first, then learners by id, as SIS exports usually sort them.
		slices.SortFunc(ms, func(a, b member) int {
			return cmp.Or(strings.Compare(b.role, a.role), strings.Compare(a.person, b.person))
		})
		fmt.Fprintf(&b, "  <membership>\n    %s\n", sid(g.id))
		for _, m := range ms {
			fmt.Fprintf(&b, "    <member>\n      %s\n      <idtype>1</idtype>\n      <role roletype=\"%s\"><status>1</status></role>\n    </member>\n",
				sid(m.person), m.role)
		}
		b.WriteString("  </membership>\n")
	}
	b.WriteString("</enterprise>\n")
	return b.Bytes()
}

func main() {
	dir := flag.String("o", "samples/demo", "output folder")
	flag.Parse()
	if err := writeAll(*dir); err != nil {
		fmt.Fprintln(os.Stderr, "demofeeds:", err)
		os.Exit(1)
	}
}

func writeAll(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i, n := range nights() {
		name := filepath.Join(dir, fmt.Sprintf("night%d.xml", i+1))
		if err := os.WriteFile(name, n.write(i+1), 0o644); err != nil {
			return err
		}
	}
	return nil
}
