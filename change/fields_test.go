package change_test

import (
	"reflect"
	"testing"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
)

func TestFieldsSayOldAndNewOfEachChangedField(t *testing.T) {
	old := record.Person{Key: "p1", Name: "Kari Hansen", Source: "sis", Attrs: record.Attrs{{Name: "email", Value: "kari@a.no"}, {Name: "tel", Value: "1"}, {Name: "tel", Value: "2"}}}
	cases := []struct {
		name  string
		c     change.Person
		names change.Names
		want  []change.Field
	}{
		{"renamed, mail changed, a phone gone, a field new",
			change.Person{Op: change.Update, Old: &old, Person: record.Person{Key: "p1", Name: "Kari Berg", Source: "sis",
				Attrs: record.Attrs{{Name: "email", Value: "kari@b.no"}, {Name: "grade", Value: "7"}, {Name: "tel", Value: "1"}}}},
			nil,
			[]change.Field{{"name", "Kari Hansen", "Kari Berg"}, {"email", "kari@a.no", "kari@b.no"}, {"grade", "", "7"}, {"tel", "1, 2", "1"}}},
		{"preferred names: the first changed, the last deleted (the CSV and console show them)",
			change.Person{Op: change.Update, Old: &record.Person{Key: "p1", Name: "Kari Hansen", Attrs: record.Attrs{{Name: record.PreferredFirst, Value: "Kari"}, {Name: record.PreferredLast, Value: "H"}}},
				Person: record.Person{Key: "p1", Name: "Kari Hansen", Attrs: record.Attrs{{Name: record.PreferredFirst, Value: "Kaja"}}}},
			nil,
			[]change.Field{{"name.preferred.family", "H", ""}, {"name.preferred.given", "Kari", "Kaja"}}},
		{"nothing the reader keeps changed", change.Person{Op: change.Update, Old: &old, Person: old}, nil, nil},
		{"a plan held before the stored record was kept: the stored name",
			change.Person{Op: change.Update, Person: record.Person{Key: "p1", Name: "Kari Berg"}},
			&change.NameMap{Persons: map[string]string{"p1": "Kari Hansen"}},
			[]change.Field{{"name", "Kari Hansen", "Kari Berg"}}},
		{"neither", change.Person{Op: change.Update, Person: record.Person{Key: "p1", Name: "Kari Berg"}}, nil, nil},
	}
	for _, c := range cases {
		if got := c.c.Fields(c.names); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\n got %q\nwant %q", c.name, got, c.want)
		}
	}
	g := change.Group{Op: change.Update, Old: &record.Group{Key: "g", Name: "7A", Types: []record.GroupType{{Value: "class"}}, Parents: []string{"s1"}},
		Group: record.Group{Key: "g", Name: "7A", Types: []record.GroupType{{Value: "class"}}, Parents: []string{"s2"}}}
	if got, want := g.Fields(nil), []change.Field{{"parents", "s1", "s2"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("group moved to another school: got %q, want %q", got, want)
	}
}
