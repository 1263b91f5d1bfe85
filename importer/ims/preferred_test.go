package ims

import (
	"testing"

	"github.com/imsfeed/imsfeed/record"
)

// TestNicknameAndMappingsAreThePreferredNames: <nickname> is the preferred first name (the
// attribute the live channels store it in); a tenant mapping named preferred_first or
// preferred_last sets a preferred name and wins over <nickname> when it finds a value.
func TestNicknameAndMappingsAreThePreferredNames(t *testing.T) {
	first := Mapping{Name: PreferredFirstMapping, Type: record.Persons, XPath: "string(extension/prefgiven)"}
	last := Mapping{Name: PreferredLastMapping, Type: record.Persons, XPath: "string(extension/preffamily)"}
	cases := []struct {
		what, person        string
		maps                []Mapping
		wantFirst, wantLast string
	}{
		{"nickname", `<name><fn>Erika M</fn><nickname>Eri</nickname></name>`, nil, "Eri", ""},
		{"no nickname", `<name><fn>Erika M</fn></name>`, nil, "", ""},
		{"mapping wins over nickname", `<name><nickname>Eri</nickname></name><extension><prefgiven>Rika</prefgiven></extension>`, []Mapping{first}, "Rika", ""},
		{"an empty mapping keeps the nickname", `<name><nickname>Eri</nickname></name><extension><prefgiven/></extension>`, []Mapping{first}, "Eri", ""},
		{"preferred last name by mapping", `<name><nickname>Eri</nickname></name><extension><preffamily>Muster</preffamily></extension>`, []Mapping{first, last}, "Eri", "Muster"},
	}
	for _, c := range cases {
		in := `<enterprise><person><sourcedid><id>P1</id></sourcedid>` + c.person + `</person></enterprise>`
		got, _, err := readBytes(t, []byte(in), "f.xml", Options{Mappings: c.maps})
		if err != nil || len(got.persons) != 1 {
			t.Fatalf("%s: %v %+v", c.what, err, got)
		}
		a := got.persons[0].Attrs
		if a.Get(record.PreferredFirst) != c.wantFirst || a.Get(record.PreferredLast) != c.wantLast {
			t.Errorf("%s: preferred %q %q, want %q %q (%+v)", c.what, a.Get(record.PreferredFirst), a.Get(record.PreferredLast), c.wantFirst, c.wantLast, a)
		}
		n := 0
		for _, x := range a {
			if x.Name == record.PreferredFirst {
				n++
			}
		}
		if n > 1 {
			t.Errorf("%s: two preferred first names: %+v", c.what, a)
		}
	}
}
