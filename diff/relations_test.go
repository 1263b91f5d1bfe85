package diff

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
)

func relation(p, related, typ string, attrs ...string) *record.Relation {
	r := &record.Relation{RelationKey: record.RelationKey{Person: p, Related: related, Type: typ}, Pos: record.Pos{Line: 4, Column: 1}}
	for i := 0; i+1 < len(attrs); i += 2 {
		r.Attrs.Add(attrs[i], attrs[i+1])
	}
	r.ComputeHash()
	return r
}

// carers is two pupils and their carers: P1 has a guardian and a next of kin, P2 the same
// guardian and a mentor.
func carers() feed {
	f := feed{}
	for _, k := range []string{"P1", "P2", "G1", "G2", "M1"} {
		f.persons = append(f.persons, person(k, "Person "+k))
	}
	f.relations = []*record.Relation{
		relation("P1", "G1", "guardian"), relation("P1", "G2", "nextOfKin"),
		relation("P2", "G1", "guardian"), relation("P2", "M1", "mentor"),
	}
	return f
}

// dropRelations is f without the relations whose key string is listed.
func dropRelations(f feed, keys ...string) feed {
	out := f
	out.relations = nil
	for _, r := range f.relations {
		if !slices.Contains(keys, r.RelationKey.String()) {
			out.relations = append(out.relations, r)
		}
	}
	return out
}

func relationOps(p *change.Plan) []string {
	var out []string
	for _, c := range p.Relations {
		s := c.Op.String() + " " + c.Relation.RelationKey.String()
		if c.Cascade {
			s += " (cascade)"
		}
		out = append(out, s)
	}
	return out
}

// TestRelations: relations have the memberships' life cycle. A snapshot removes the ones no
// person's record names any more; an event file changes only what it says; a person going to
// the trash can takes their relations with them, both ways, and they come back with the file
// that has them again; a relation naming a person neither the file nor the store knows is
// skipped with a warning and its stored counterpart kept.
func TestRelations(t *testing.T) {
	t.Parallel()
	withoutPerson := func(f feed, key string) feed {
		out := without(f, func(k string) bool { return k == key })
		out.relations = nil
		for _, r := range f.relations {
			if r.Person != key {
				out.relations = append(out.relations, r)
			}
		}
		return out
	}
	for _, tc := range []struct {
		name     string
		stored   []feed // applied first as snapshots, in order (none: an empty store)
		file     feed
		fin      Finish
		want     []string
		counts   string
		warnings []string
	}{
		{name: "initial load inserts every relation", file: carers(),
			want:   []string{"insert P1/G1/guardian", "insert P1/G2/nextOfKin", "insert P2/G1/guardian", "insert P2/M1/mentor"},
			counts: "before=0 ins=4 upd=0 del=0 res=0 arc=0 after=4"},
		{name: "the same file again changes nothing", stored: nights(carers()), file: carers(),
			counts: "before=4 ins=0 upd=0 del=0 res=0 arc=0 after=4"},
		{name: "a changed attribute is an update", stored: nights(carers()),
			file: func() feed {
				f := carers()
				f.relations[0] = relation("P1", "G1", "guardian", "source", "sis2")
				return f
			}(),
			want:   []string{"update P1/G1/guardian"},
			counts: "before=4 ins=0 upd=1 del=0 res=0 arc=0 after=4"},
		{name: "a snapshot removes a relation the file no longer has", stored: nights(carers()),
			file:   dropRelations(carers(), "P1/G2/nextOfKin"),
			want:   []string{"delete P1/G2/nextOfKin"},
			counts: "before=4 ins=0 upd=0 del=1 res=0 arc=0 after=3"},
		{name: "a changed type is a new relation and a gone one", stored: nights(carers()),
			file: func() feed {
				f := dropRelations(carers(), "P2/M1/mentor")
				f.relations = append(f.relations, relation("P2", "M1", "guardian"))
				return f
			}(),
			want: []string{"insert P2/M1/guardian", "delete P2/M1/mentor"}},
		{name: "an event file changes only what it says", stored: nights(carers()), fin: Finish{Mode: Event},
			file: feed{persons: []*record.Person{person("P3", "Person P3")}, relations: []*record.Relation{relation("P3", "G2", "guardian")}},
			want: []string{"insert P3/G2/guardian"}, counts: "before=4 ins=1 upd=0 del=0 res=0 arc=0 after=5"},
		{name: "a pupil to the trash can takes their relations", stored: nights(carers()),
			file:   withoutPerson(carers(), "P1"),
			want:   []string{"delete P1/G1/guardian (cascade)", "delete P1/G2/nextOfKin (cascade)"},
			counts: "before=4 ins=0 upd=0 del=2 res=0 arc=0 after=2"},
		{name: "a guardian to the trash can takes the relations naming them", stored: nights(carers()),
			file: func() feed {
				f := without(carers(), func(k string) bool { return k == "G1" })
				return dropRelations(f, "P1/G1/guardian", "P2/G1/guardian")
			}(),
			want: []string{"delete P1/G1/guardian (cascade)", "delete P2/G1/guardian (cascade)"}},
		{name: "an event file's deleted person takes their relations", stored: nights(carers()), fin: Finish{Mode: Event},
			file: feed{persons: []*record.Person{func() *record.Person { p := person("G1", ""); p.RecStatus = record.StatusDelete; return p }()}},
			want: []string{"delete P1/G1/guardian (cascade)", "delete P2/G1/guardian (cascade)"}},
		{name: "a pupil back from the trash can gets their relations back",
			stored: nights(withoutPerson(carers(), "P1")), file: carers(),
			want: []string{"insert P1/G1/guardian", "insert P1/G2/nextOfKin"}},
		{name: "a related person unknown to file and store is skipped with a warning",
			file:     feed{persons: []*record.Person{person("P1", "")}, relations: []*record.Relation{relation("P1", "NOBODY", "guardian")}},
			warnings: []string{`4:1 P1/NOBODY/guardian: related person "NOBODY" is unknown to both the file and the store; relation skipped`}},
		{name: "a related person in the trash can is skipped with a warning",
			stored: nights(carers(), dropRelations(withoutPerson(carers(), "G2"), "P1/G2/nextOfKin")),
			file: func() feed {
				f := without(carers(), func(k string) bool { return k == "G2" })
				return f // still names G2 as P1's next of kin
			}(),
			warnings: []string{`related person "G2" is in the trash can and not in the file; relation skipped`}},
		{name: "a relation the reader skipped keeps the person's stored relations", stored: nights(carers()),
			file: dropRelations(carers(), "P1/G1/guardian", "P1/G2/nextOfKin"),
			fin:  Finish{Skipped: []Skipped{{Type: record.Relations, Key: "P1"}}}},
		{name: "a person the reader skipped keeps their stored relations", stored: nights(carers()),
			file: withoutPerson(carers(), "P2"),
			fin:  Finish{Skipped: []Skipped{{Type: record.Persons, Key: "P2"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := change.NewState("t")
			for _, f := range tc.stored {
				st = apply(st, must(run(t, st, f, Finish{})))
			}
			p, warnings := run(t, st, tc.file, tc.fin)
			if got := relationOps(p); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("relation changes:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			if tc.counts != "" {
				if got := counts(p.Counts.Relations); got != tc.counts {
					t.Errorf("relation counts %s, want %s", got, tc.counts)
				}
			}
			var ws []string
			for _, w := range warnings {
				ws = append(ws, fmt.Sprintf("%d:%d %s: %s", w.Line, w.Column, w.Key, w.Message))
			}
			if len(ws) != len(tc.warnings) {
				t.Fatalf("warnings %q, want %q", ws, tc.warnings)
			}
			for i, w := range tc.warnings {
				if !strings.Contains(ws[i], w) {
					t.Errorf("warning %q, want it to say %q", ws[i], w)
				}
			}
		})
	}
}

// TestRelationsHeldApartByHoldRemovals: a relation's removal waits with the other removals.
func TestRelationsHeldApartByHoldRemovals(t *testing.T) {
	t.Parallel()
	st := change.NewState("t")
	st = apply(st, must(run(t, st, carers(), Finish{})))
	f := dropRelations(carers(), "P1/G2/nextOfKin")
	f.relations = append(f.relations, relation("P1", "M1", "mentor"))
	p, _ := run(t, st, f, Finish{})
	now, held := p.Split()
	if got := strings.Join(relationOps(now), ","); got != "insert P1/M1/mentor" {
		t.Errorf("applied now: %s", got)
	}
	if got := strings.Join(relationOps(held), ","); got != "delete P1/G2/nextOfKin" {
		t.Errorf("held: %s", got)
	}
	if held.Counts.Relations.Before != 5 || held.Counts.Relations.After != 4 {
		t.Errorf("held counts %+v", held.Counts.Relations)
	}
}

func nights(f ...feed) []feed { return f }
