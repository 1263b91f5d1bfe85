package safety

import (
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/imsfeed/imsfeed/record"
)

// tenant is how a config package embeds the policy: prefilled with the defaults, because yaml
// does not call UnmarshalYAML for an absent or empty block.
type tenant struct {
	ID     string `yaml:"id"`
	Safety Policy `yaml:"safety"`
}

func decodeTenant(t *testing.T, doc string) (Policy, error) {
	t.Helper()
	tn := tenant{Safety: DefaultPolicy()}
	err := yaml.Unmarshal([]byte(strings.TrimLeft(doc, "\n")), &tn)
	return tn.Safety, err
}

func TestUnmarshalYAML(t *testing.T) {
	t.Parallel()
	P, G, M := record.Persons, record.Groups, record.Memberships
	tests := []struct {
		name string
		doc  string
		want func(*Policy) // applied to DefaultPolicy()
	}{
		{"no safety block", "id: north\n", func(*Policy) {}},
		{"empty safety block", "id: north\nsafety:\n", func(*Policy) {}},
		{"empty mapping", "safety: {}\n", func(*Policy) {}},
		{"DESIGN sketch equals the defaults", `
safety:
  min_changes: 25
  persons:     {inserts: 20%, updates: 50%, deletes: 10%}
  groups:      {inserts: 20%, updates: 50%, deletes: 10%}
  memberships: {inserts: 25%, updates: 50%, deletes: 10%}
`, func(*Policy) {}},
		{"tenant keys", `
safety:
  min_changes: 5
  hold_initial_load: true
  on_trip: hold-removals
`, func(p *Policy) { p.MinChanges = 5; p.HoldInitialLoad = true; p.OnTrip = HoldRemovals }},
		{"window in days", "safety: {window: 14d}\n", func(p *Policy) { p.WindowDays = 14 }},
		{"window as a number of days", "safety: {window: 3}\n", func(p *Policy) { p.WindowDays = 3 }},
		{"window off", "safety: {window: off}\n", func(p *Policy) { p.WindowDays = 0 }},
		{"max_skipped percent", "safety: {max_skipped: 2.5%}\n", func(p *Policy) { p.MaxSkipped.MaxPercent = ptr(2.5) }},
		{"max_skipped count", "safety: {max_skipped: {max_percent: off, max_count: 100}}\n", func(p *Policy) { p.MaxSkipped = Limit{MaxCount: ptr(100)} }},
		{"max_skipped off", "safety: {max_skipped: off}\n", func(p *Policy) { p.MaxSkipped = Limit{} }},
		{"percent spellings", `
safety:
  persons: {inserts: 30, updates: 12.5%, deletes: "7.5 %"}
`, func(p *Policy) {
			p.Types[P].Inserts.MaxPercent = ptr(30.0)
			p.Types[P].Updates.MaxPercent = ptr(12.5)
			p.Types[P].Deletes.MaxPercent = ptr(7.5)
		}},
		{"mapping form and per-type min_changes", `
safety:
  groups: {deletes: {max_percent: 10%, max_count: 500}, min_changes: 10}
`, func(p *Policy) {
			p.Types[G].Deletes = Limit{MaxPercent: ptr(10.0), MaxCount: ptr(500)}
			p.Types[G].MinChanges = ptr(10)
		}},
		{"max_count alone keeps the default percent", `
safety:
  memberships:
    deletes:
      max_count: 2000
`, func(p *Policy) { p.Types[M].Deletes.MaxCount = ptr(2000) }},
		{"off", `
safety:
  memberships: {inserts: 25%, deletes: off}
  persons: {updates: OFF}
`, func(p *Policy) { p.Types[M].Deletes = Limit{}; p.Types[P].Updates = Limit{} }},
		{"count-only limit", `
safety:
  persons: {deletes: {max_percent: off, max_count: 100}}
`, func(p *Policy) { p.Types[P].Deletes = Limit{MaxCount: ptr(100)} }},
		{"inserts may exceed 100%", "safety: {persons: {inserts: 250%}}\n", func(p *Policy) { p.Types[P].Inserts.MaxPercent = ptr(250.0) }},
		{"deletes at exactly 100% and 0", "safety: {persons: {deletes: 100%, updates: 0}}\n", func(p *Policy) {
			p.Types[P].Deletes.MaxPercent = ptr(100.0)
			p.Types[P].Updates.MaxPercent = ptr(0.0)
		}},
		{"anchors and aliases", `
defaults: &strict {inserts: 5%, updates: 5%, deletes: 1%}
safety:
  persons: *strict
  groups: *strict
`, func(p *Policy) {
			for _, t := range []record.Type{P, G} {
				p.Types[t].Inserts.MaxPercent, p.Types[t].Updates.MaxPercent, p.Types[t].Deletes.MaxPercent = ptr(5.0), ptr(5.0), ptr(1.0)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var cfg struct {
				ID       string         `yaml:"id"`
				Defaults map[string]any `yaml:"defaults"`
				Safety   Policy         `yaml:"safety"`
			}
			cfg.Safety = DefaultPolicy()
			if err := yaml.Unmarshal([]byte(strings.TrimLeft(tc.doc, "\n")), &cfg); err != nil {
				t.Fatal(err)
			}
			want := DefaultPolicy()
			tc.want(&want)
			if !reflect.DeepEqual(cfg.Safety, want) {
				t.Fatalf("got  %v\nwant %v", cfg.Safety, want)
			}
			if err := cfg.Safety.Validate(); err != nil {
				t.Fatalf("decoded policy does not validate: %v", err)
			}
		})
	}
}

// TestUnmarshalYAMLStartsFromDefaults: a block sets what it names and nothing else, whatever
// the struct held before.
func TestUnmarshalYAMLStartsFromDefaults(t *testing.T) {
	t.Parallel()
	p := Policy{MinChanges: 999, OnTrip: HoldRemovals}
	if err := yaml.Unmarshal([]byte("persons: {deletes: 5%}\n"), &p); err != nil {
		t.Fatal(err)
	}
	want := DefaultPolicy()
	want.Types[record.Persons].Deletes.MaxPercent = ptr(5.0)
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("got %v\nwant %v", p, want)
	}
}

func TestUnmarshalYAMLErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ doc, want string }{
		{`
id: north
safety:
  persons:
    inserts: 20%
    deletes: ten%
`, `safety.persons.deletes: "ten%" is not a percentage such as 10% or 12.5% (line 5)`},
		{"safety: {persons: {deletes: -5%}}", `safety.persons.deletes: "-5%" is negative (line 1)`},
		{"safety: {persons: {deletes: 5%%}}", `safety.persons.deletes: "5%%" is not a percentage such as 10% or 12.5% (line 1)`},
		{"safety: {persons: {deletes: 1e3}}", `safety.persons.deletes: "1e3" is not a percentage such as 10% or 12.5% (line 1)`},
		{"safety: {persons: {deletes: .inf}}", `safety.persons.deletes: ".inf" is not a percentage such as 10% or 12.5% (line 1)`},
		{"safety: {persons: {deletes: true}}", `safety.persons.deletes: "true" is not a percentage such as 10% or 12.5% (line 1)`},
		{"safety: {persons: {deletes: [10%]}}", `safety.persons.deletes: must be a mapping of max_percent, max_count (line 1)`},
		{"safety:\n  groups:\n    deletes: 120%\n", `safety.groups.deletes: "120%" is over 100%, but deletes cannot exceed the base; write off to disable the limit (line 3)`},
		{"safety:\n  groups:\n    updates: {max_percent: 101}\n", `safety.groups.updates.max_percent: "101" is over 100%, but updates cannot exceed the base; write off to disable the limit (line 3)`},
		{"safety:\n  groups:\n    deletes:\n", `safety.groups.deletes: is empty; want a percentage such as 10%, off, or {max_percent: 10%, max_count: 500} (line 3)`},
		{"safety:\n  memberships: {deletes: {max_count: 12.5}}\n", `safety.memberships.deletes.max_count: "12.5" is not a whole number (line 2)`},
		{"safety:\n  memberships: {deletes: {max_count: 500%}}\n", `safety.memberships.deletes.max_count: "500%" is not a whole number (line 2)`},
		{"safety:\n  memberships: {deletes: {max_count: -1}}\n", `safety.memberships.deletes.max_count: "-1" is negative (line 2)`},
		{"safety:\n  memberships: {deletes: {max_pct: 10%}}\n", `safety.memberships.deletes.max_pct: unknown key; want one of max_percent, max_count (line 2)`},
		{"safety:\n  memberships: {deletes: {max_percnt: 10%}}\n", `safety.memberships.deletes.max_percnt: unknown key; did you mean max_percent? (line 2)`},
		{"safety:\n  min_changes: ten\n", `safety.min_changes: "ten" is not a whole number (line 2)`},
		{"safety:\n  min_changes: -1\n", `safety.min_changes: "-1" is negative (line 2)`},
		{"safety:\n  min_changes: 2.5\n", `safety.min_changes: "2.5" is not a whole number (line 2)`},
		{"safety:\n  persons: {min_changes: -4}\n", `safety.persons.min_changes: "-4" is negative (line 2)`},
		{"safety:\n  hold_initial_load: maybe\n", `safety.hold_initial_load: "maybe" is not true or false (line 2)`},
		{"safety:\n  max_skipped: 150%\n", `safety.max_skipped: "150%" is over 100%, but deletes cannot exceed the base; write off to disable the limit (line 2)`},
		{"safety:\n  window: 36h\n", `safety.window: "36h" is not a window in days such as 7d (at most 366d), or off (line 2)`},
		{"safety:\n  window: -2d\n", `safety.window: "-2d" is not a window in days such as 7d (at most 366d), or off (line 2)`},
		{"safety:\n  on_trip: pause\n", `safety.on_trip: "pause" is not stop or hold-removals (line 2)`},
		{"safety:\n  on_trip: [stop]\n", `safety.on_trip: a list is not stop or hold-removals (line 2)`},
		{"safety:\n  min_change: 3\n", `safety.min_change: unknown key; did you mean min_changes? (line 2)`},
		{"safety:\n  people: {deletes: 10%}\n", `safety.people: unknown key; want one of min_changes, hold_initial_load, on_trip, window, max_skipped, persons, groups, memberships, relations (line 2)`},
		{"safety:\n  persons: {delete: 10%}\n", `safety.persons.delete: unknown key; did you mean deletes? (line 2)`},
		{"safety:\n  persons: 10%\n", `safety.persons: must be a mapping of inserts, updates, deletes, min_changes (line 2)`},
		{"safety: strict\n", `safety: must be a mapping of min_changes, hold_initial_load, on_trip, window, max_skipped, persons, groups, memberships, relations (line 1)`},
		{"safety:\n  persons: {deletes: 10%}\n  min_changes: 3\n  persons: {inserts: 5%}\n", `safety.persons: given twice (lines 2 and 4)`},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			t.Parallel()
			_, err := decodeTenant(t, tc.doc)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error = %v\nwant    %s", err, tc.want)
			}
		})
	}
}

// TestMarshalRoundTrip: the printed effective policy reads back as the same policy.
func TestMarshalRoundTrip(t *testing.T) {
	t.Parallel()
	p := DefaultPolicy()
	p.MinChanges = 7
	p.HoldInitialLoad = true
	p.OnTrip = HoldRemovals
	p.Types[record.Groups].Deletes = Limit{MaxPercent: ptr(12.5), MaxCount: ptr(40)}
	p.Types[record.Groups].MinChanges = ptr(3)
	p.Types[record.Memberships].Updates = Limit{}
	p.Types[record.Persons].Deletes = Limit{MaxCount: ptr(100)}
	for _, q := range []Policy{DefaultPolicy(), p} {
		b, err := yaml.Marshal(q)
		if err != nil {
			t.Fatal(err)
		}
		var back Policy
		if err := yaml.Unmarshal(b, &back); err != nil {
			t.Fatalf("%v reading back:\n%s", err, b)
		}
		if !reflect.DeepEqual(back, q) {
			t.Fatalf("round trip changed the policy:\n%s\ngot  %v\nwant %v", b, back, q)
		}
	}
	want := "min_changes: 25\nhold_initial_load: false\non_trip: stop\nwindow: 7d\nmax_skipped: 1%\n" +
		"persons: {inserts: 20%, updates: 50%, deletes: 10%}\n" +
		"groups: {inserts: 20%, updates: 50%, deletes: 10%}\n" +
		"memberships: {inserts: 25%, updates: 50%, deletes: 10%}\n" +
		"relations: {inserts: 25%, updates: 50%, deletes: 10%}\n"
	if b, _ := yaml.Marshal(DefaultPolicy()); string(b) != want {
		t.Fatalf("default policy prints as\n%s\nwant (the shape of POLICY.md)\n%s", b, want)
	}
	if s := p.String(); strings.Contains(s, "\n") || !strings.Contains(s, "groups: {inserts: 20%, updates: 50%, deletes: {max_percent: 12.5%, max_count: 40}, min_changes: 3}") {
		t.Fatalf("String() = %s", s)
	}
}
