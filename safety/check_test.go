package safety

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
)

func ptr[T any](v T) *T { return &v }

// one returns counts where only type t has numbers.
func one(t record.Type, tc TypeCounts) Counts {
	var c Counts
	c[t] = tc
	return c
}

func withCount(tc TypeCounts, op Op, n int) TypeCounts {
	switch op {
	case Inserts:
		tc.Inserts = n
	case Updates:
		tc.Updates = n
	case Deletes:
		tc.Deletes = n
	}
	return tc
}

// TestDefaultLimitsEachTypeAndOp walks every type × operation of the default policy: a count
// exactly at the documented percent passes, one more trips, and the trip names that limit.
func TestDefaultLimitsEachTypeAndOp(t *testing.T) {
	t.Parallel()
	documented := []struct {
		typ record.Type
		op  Op
		pct float64
	}{
		{record.Persons, Inserts, 20}, {record.Persons, Updates, 50}, {record.Persons, Deletes, 10},
		{record.Groups, Inserts, 20}, {record.Groups, Updates, 50}, {record.Groups, Deletes, 10},
		{record.Memberships, Inserts, 25}, {record.Memberships, Updates, 50}, {record.Memberships, Deletes, 10},
	}
	p := DefaultPolicy()
	const base = 1000
	for _, d := range documented {
		t.Run(d.typ.String()+"/"+string(d.op), func(t *testing.T) {
			at := int(d.pct * base / 100)
			if v := Check(one(d.typ, withCount(TypeCounts{Base: base}, d.op, at)), p); !v.Passed {
				t.Fatalf("%d of %d (exactly %v%%) should pass, tripped %v", at, base, d.pct, v.Tripped)
			}
			v := Check(one(d.typ, withCount(TypeCounts{Base: base}, d.op, at+1)), p)
			if v.Passed || len(v.Tripped) != 1 {
				t.Fatalf("%d of %d should trip once, got %+v", at+1, base, v)
			}
			tr := v.Tripped[0]
			wantPct := float64(at+1) * 100 / base
			if tr.Type != d.typ.String() || tr.Op != d.op || tr.Count != at+1 || tr.Base != base ||
				tr.Percent != wantPct || tr.MaxPercent == nil || *tr.MaxPercent != d.pct || tr.MaxCount != nil {
				t.Fatalf("trip = %+v, want %s %s %d/%d %.1f%% > %v%%", tr, d.typ, d.op, at+1, base, wantPct, d.pct)
			}
			if v.OnTrip != Stop {
				t.Fatalf("on_trip = %q, want the default stop", v.OnTrip)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	def := DefaultPolicy()
	countLimit := DefaultPolicy()
	countLimit.Types[record.Memberships].Deletes = Limit{MaxPercent: ptr(10.0), MaxCount: ptr(500)}
	countOnly := DefaultPolicy()
	countOnly.Types[record.Persons].Deletes = Limit{MaxCount: ptr(100)}
	noMin := DefaultPolicy()
	noMin.MinChanges = 0
	highLimit := DefaultPolicy()
	highLimit.Types[record.Persons].Deletes = Limit{MaxPercent: ptr(60.0)}
	deletesOff := DefaultPolicy()
	deletesOff.Types[record.Persons].Deletes = Limit{}
	noWindow := DefaultPolicy()
	noWindow.WindowDays = 0
	zeroLimits := noMin
	zeroLimits.Types[record.Persons].Deletes = Limit{MaxPercent: ptr(0.0), MaxCount: ptr(0)}
	groupMin := DefaultPolicy()
	groupMin.Types[record.Groups].MinChanges = ptr(10)
	highMin := DefaultPolicy()
	highMin.Types[record.Memberships].MinChanges = ptr(100)
	hold := DefaultPolicy()
	hold.HoldInitialLoad = true
	holdOff := hold
	holdOff.Types[record.Persons].Inserts = Limit{}
	holdCount := hold
	holdCount.Types[record.Persons].Inserts = Limit{MaxCount: ptr(10000)}
	eighth := DefaultPolicy()
	eighth.Types[record.Persons].Deletes = Limit{MaxPercent: ptr(12.5)}
	bigInserts := DefaultPolicy()
	bigInserts.Types[record.Persons].Inserts = Limit{MaxPercent: ptr(150.0)}
	removals := DefaultPolicy()
	removals.OnTrip = HoldRemovals
	noOnTrip := DefaultPolicy()
	noOnTrip.OnTrip = ""

	P, G, M := record.Persons, record.Groups, record.Memberships
	tests := []struct {
		name   string
		counts Counts
		policy Policy
		want   []string // Trip.String of each trip, in order; none means passed
	}{
		{"nothing changes", Counts{{Base: 500}, {Base: 20}, {Base: 3000}}, def, nil},
		{"empty tenant, empty file", Counts{}, hold, nil},

		// percent vs count limits
		{"count limit trips below the percent", one(M, TypeCounts{Base: 40000, Deletes: 501}), countLimit, []string{"memberships deletes 501 > 500"}},
		{"count limit: exactly max_count passes", one(M, TypeCounts{Base: 40000, Deletes: 500}), countLimit, nil},
		{"percent still trips with a count limit", one(M, TypeCounts{Base: 1000, Deletes: 101}), countLimit, []string{"memberships deletes 10.1% > 10%"}},
		{"count-only limit ignores percent", one(P, TypeCounts{Base: 150, Deletes: 100}), countOnly, nil},
		{"count-only limit trips over the count", one(P, TypeCounts{Base: 150, Deletes: 101}), countOnly, []string{"persons deletes 101 > 100"}},

		// min_changes
		{"min_changes-1 never trips", one(P, TypeCounts{Base: 60, Deletes: 24}), def, nil},
		{"min_changes-1 removing exactly half never trips", one(P, TypeCounts{Base: 48, Deletes: 24}), def, nil},

		// Removing more than half of a type, or all of it, holds whatever min_changes says.
		{"removing all of a small type trips below min_changes", one(P, TypeCounts{Base: 24, Deletes: 24}), def, []string{"persons deletes 100.0% > 10%"}},
		{"removing more than half trips below min_changes", one(G, TypeCounts{Base: 7, Deletes: 4}), def, []string{"groups deletes 57.1% > 10%"}},
		{"removing the only person trips", one(P, TypeCounts{Base: 1, Deletes: 1}), def, []string{"persons deletes 100.0% > 10%"}},
		{"more than half within a limit set above it passes", one(P, TypeCounts{Base: 24, Deletes: 13}), highLimit, nil},
		{"more than half with deletes off passes", one(P, TypeCounts{Base: 24, Deletes: 24}), deletesOff, nil},

		// The rolling window: earlier removals within it plus tonight's, against its base.
		{"slow bleed trips on the night the window crosses the limit", one(P, TypeCounts{Base: 910, Deletes: 82, Earlier: Earlier{Base: 1000, Deletes: 90}}), def,
			[]string{"persons deletes 17.2% > 10% over 7d"}},
		{"window within the limit passes", one(P, TypeCounts{Base: 970, Deletes: 30, Earlier: Earlier{Base: 1000, Deletes: 30}}), def, nil},
		{"window at exactly the limit passes", one(P, TypeCounts{Base: 950, Deletes: 50, Earlier: Earlier{Base: 1000, Deletes: 50}}), def, nil},
		{"window respects min_changes", one(P, TypeCounts{Base: 90, Deletes: 10, Earlier: Earlier{Base: 100, Deletes: 10}}), def, nil},
		{"window of most of a small type ignores min_changes", one(P, TypeCounts{Base: 12, Deletes: 10, Earlier: Earlier{Base: 24, Deletes: 12}}), def,
			[]string{"persons deletes 83.3% > 10%", "persons deletes 91.7% > 10% over 7d"}},
		{"window does not trip a night that removes nothing", one(P, TypeCounts{Base: 800, Inserts: 3, Earlier: Earlier{Base: 1000, Deletes: 200}}), def, nil},
		{"window off", one(P, TypeCounts{Base: 910, Deletes: 82, Earlier: Earlier{Base: 1000, Deletes: 90}}), noWindow, nil},
		{"window uses the count limit too", one(M, TypeCounts{Base: 20000, Deletes: 300, Earlier: Earlier{Base: 20000, Deletes: 300}}), countLimit,
			[]string{"memberships deletes 600 > 500 over 7d"}},
		{"exactly min_changes trips", one(P, TypeCounts{Base: 30, Deletes: 25}), def, []string{"persons deletes 83.3% > 10%"}},
		{"per-type min_changes lower", one(G, TypeCounts{Base: 50, Deletes: 10}), groupMin, []string{"groups deletes 20.0% > 10%"}},
		{"per-type min_changes lower: one below", one(G, TypeCounts{Base: 50, Deletes: 9}), groupMin, nil},
		{"per-type override leaves other types", one(P, TypeCounts{Base: 50, Deletes: 10}), groupMin, nil},
		{"per-type min_changes higher", one(M, TypeCounts{Base: 200, Deletes: 99}), highMin, nil},
		{"per-type min_changes higher: reached", one(M, TypeCounts{Base: 200, Deletes: 100}), highMin, []string{"memberships deletes 50.0% > 10%"}},
		{"min_changes 0: one delete of five", one(P, TypeCounts{Base: 5, Deletes: 1}), noMin, []string{"persons deletes 20.0% > 10%"}},
		{"count 0 never trips, even at zero limits", one(P, TypeCounts{Base: 5}), zeroLimits, nil},
		{"zero limits trip on one", one(P, TypeCounts{Base: 5, Deletes: 1}), zeroLimits, []string{"persons deletes 20.0% > 0%"}},

		// base 0
		{"initial load passes", Counts{{Inserts: 5000}, {Inserts: 120}, {Inserts: 30000}}, def, nil},
		{"initial load held", Counts{{Inserts: 5000}, {Inserts: 120}, {Inserts: 30000}}, hold,
			[]string{"persons inserts 5000 with no persons before", "groups inserts 120 with no groups before", "memberships inserts 30000 with no memberships before"}},
		{"initial load held: under min_changes", one(P, TypeCounts{Inserts: 24}), hold, nil},
		{"initial load held: limit off", one(P, TypeCounts{Inserts: 5000}), holdOff, nil},
		{"initial load held: within max_count", one(P, TypeCounts{Inserts: 5000}), holdCount, nil},
		{"initial load held: over max_count", one(P, TypeCounts{Inserts: 10001}), holdCount, []string{"persons inserts 10001 with no persons before"}},
		{"base 0 updates cannot pass unnoticed", one(P, TypeCounts{Updates: 30}), def, []string{"persons updates 30 with no persons before"}},
		{"one type empty, others not", Counts{{Base: 0, Inserts: 300}, {Base: 10, Inserts: 1}, {Base: 100, Inserts: 26}}, def, []string{"memberships inserts 26.0% > 25%"}},

		// boundaries and rounding
		{"12.5%: exactly passes", one(P, TypeCounts{Base: 200, Deletes: 25}), eighth, nil},
		{"12.5%: one more trips", one(P, TypeCounts{Base: 200, Deletes: 26}), eighth, []string{"persons deletes 13.0% > 12.5%"}},
		{"just over shows above the limit", one(P, TypeCounts{Base: 10000, Deletes: 1004}), def, []string{"persons deletes 10.1% > 10%"}},
		{"one third", one(P, TypeCounts{Base: 75, Updates: 50}), def, []string{"persons updates 66.7% > 50%"}},
		{"inserts may go past 100%", one(P, TypeCounts{Base: 100, Inserts: 150}), bigInserts, nil},
		{"inserts past 150%", one(P, TypeCounts{Base: 100, Inserts: 151}), bigInserts, []string{"persons inserts 151.0% > 150%"}},

		// every crossed limit, in type and operation order
		{"all listed in order", Counts{{Base: 100, Inserts: 30, Deletes: 40}, {Base: 100, Updates: 60}, {Base: 1000, Deletes: 500}}, def,
			[]string{"persons inserts 30.0% > 20%", "persons deletes 40.0% > 10%", "groups updates 60.0% > 50%", "memberships deletes 50.0% > 10%"}},
		{"hold-removals", Counts{{Base: 100, Deletes: 40}, {Base: 10, Deletes: 30}}, removals, []string{"persons deletes 40.0% > 10%", "groups deletes 300.0% > 10%"}},
		{"hold-removals with an inserts trip stops", Counts{{Base: 100, Inserts: 30, Deletes: 40}}, removals, []string{"persons inserts 30.0% > 20%", "persons deletes 40.0% > 10%"}},
		{"hold-removals with an updates trip stops", one(M, TypeCounts{Base: 100, Updates: 60}), removals, []string{"memberships updates 60.0% > 50%"}},
		{"empty on_trip means stop", one(P, TypeCounts{Base: 100, Deletes: 40}), noOnTrip, []string{"persons deletes 40.0% > 10%"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := Check(tc.counts, tc.policy)
			var got []string
			for _, tr := range v.Tripped {
				got = append(got, tr.String())
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("tripped:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
			if v.Passed != (len(tc.want) == 0) {
				t.Fatalf("passed = %v with %d trips", v.Passed, len(v.Tripped))
			}
			wantOnTrip := OnTrip("")
			if !v.Passed {
				wantOnTrip = Stop
				if tc.policy.OnTrip == HoldRemovals && !strings.Contains(tc.name, "stops") {
					wantOnTrip = HoldRemovals
				}
			}
			if v.OnTrip != wantOnTrip {
				t.Fatalf("on_trip = %q, want %q", v.OnTrip, wantOnTrip)
			}
		})
	}
}

func TestCheckVerdictJSON(t *testing.T) {
	t.Parallel()
	p := DefaultPolicy()
	b, _ := json.Marshal(Check(Counts{{Base: 10}}, p))
	if string(b) != `{"passed":true,"tripped":[]}` {
		t.Fatalf("passed verdict JSON = %s; scripts expect an empty tripped list and no on_trip", b)
	}
	p.Types[record.Persons].Deletes.MaxCount = ptr(100)
	v := Check(one(record.Persons, TypeCounts{Base: 600, Deletes: 180}), p)
	b, _ = json.Marshal(v)
	want := `{"passed":false,"tripped":[{"type":"persons","op":"deletes","count":180,"base":600,"percent":30,"max_percent":10,"max_count":100}],"on_trip":"stop"}`
	if string(b) != want {
		t.Fatalf("verdict JSON =\n %s\nwant\n %s", b, want)
	}
	// The verdict keeps its own copy of the limits: a later policy change does not rewrite it.
	*p.Types[record.Persons].Deletes.MaxPercent = 99
	if *v.Tripped[0].MaxPercent != 10 {
		t.Fatal("verdict shares the policy's limit")
	}
}

func TestCountsFrom(t *testing.T) {
	t.Parallel()
	c := change.Counts{
		Persons:     change.TypeCounts{Before: 1000, Inserted: 10, Updated: 20, Deleted: 30, Restored: 40, Archived: 5},
		Groups:      change.TypeCounts{Before: 200, Inserted: 1, Updated: 2, Deleted: 3, Restored: 0, Archived: 40},
		Memberships: change.TypeCounts{Before: 9000, Inserted: 100, Updated: 7, Deleted: 300, Archived: 2000},
	}
	got := CountsFrom(c)
	want := Counts{
		record.Persons:     {Base: 1000, Inserts: 50, Updates: 20, Deletes: 35},
		record.Groups:      {Base: 200, Inserts: 1, Updates: 2, Deletes: 43},
		record.Memberships: {Base: 9000, Inserts: 100, Updates: 7, Deletes: 300},
	}
	if got != want {
		t.Fatalf("CountsFrom = %+v, want %+v", got, want)
	}
}

// TestCountsFromPlans goes from a real change set to a verdict: the counts come from
// change.Tally of a plan, as the importer makes them.
func TestCountsFromPlans(t *testing.T) {
	t.Parallel()
	mk := func(n int, op change.Op) []change.Person {
		out := make([]change.Person, n)
		for i := range out {
			out[i] = change.Person{Op: op, Person: record.Person{Key: fmt.Sprintf("P%04d", i)}}
		}
		return out
	}
	groups := func(n int, op change.Op) []change.Group {
		out := make([]change.Group, n)
		for i := range out {
			out[i] = change.Group{Op: op, Course: op == change.Archive}
		}
		return out
	}
	members := func(n int, op change.Op, cascade bool) []change.Membership {
		out := make([]change.Membership, n)
		for i := range out {
			out[i] = change.Membership{Op: op, Cascade: cascade}
		}
		return out
	}
	tests := []struct {
		name string
		plan change.Plan
		base [4]int
		want []string
	}{
		{"mass restore from the trash is a mass insert", change.Plan{Persons: mk(300, change.Restore)}, [4]int{1000, 0, 0},
			[]string{"persons inserts 30.0% > 20%"}},
		{"restores and inserts add up", change.Plan{Persons: append(mk(150, change.Restore), mk(60, change.Insert)...)}, [4]int{1000, 0, 0},
			[]string{"persons inserts 21.0% > 20%"}},
		{"trashed persons are deletes", change.Plan{Persons: mk(101, change.Delete)}, [4]int{1000, 0, 0},
			[]string{"persons deletes 10.1% > 10%"}},
		{"archived courses are deletes", change.Plan{Groups: groups(30, change.Archive)}, [4]int{0, 200, 0},
			[]string{"groups deletes 15.0% > 10%"}},
		{"cascaded membership removals are deletes", change.Plan{Memberships: members(120, change.Delete, true)}, [4]int{0, 0, 1000},
			[]string{"memberships deletes 12.0% > 10%"}},
		{"memberships turned manual are not deletes", change.Plan{Groups: groups(5, change.Archive), Memberships: members(900, change.Manualize, false)}, [4]int{0, 200, 1000},
			nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := Check(CountsFrom(change.Tally(&tc.plan, tc.base)), DefaultPolicy())
			var got []string
			for _, tr := range v.Tripped {
				got = append(got, tr.String())
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") || v.Passed != (len(tc.want) == 0) {
				t.Fatalf("verdict %v: %q, want %q", v.Passed, got, tc.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	if err := DefaultPolicy().Validate(); err != nil {
		t.Fatalf("default policy invalid: %v", err)
	}
	tests := []struct {
		name   string
		modify func(*Policy)
		want   string
	}{
		{"negative min_changes", func(p *Policy) { p.MinChanges = -1 }, "safety.min_changes: -1 is negative"},
		{"empty on_trip", func(p *Policy) { p.OnTrip = "" }, `safety.on_trip: "" is not "stop" or "hold-removals"`},
		{"unknown on_trip", func(p *Policy) { p.OnTrip = "pause" }, `safety.on_trip: "pause" is not "stop" or "hold-removals"`},
		{"negative type min_changes", func(p *Policy) { p.Types[record.Groups].MinChanges = ptr(-3) }, "safety.groups.min_changes: -3 is negative"},
		{"negative percent", func(p *Policy) { p.Types[record.Persons].Deletes.MaxPercent = ptr(-5.0) }, "safety.persons.deletes.max_percent: -5 is negative"},
		{"deletes over 100%", func(p *Policy) { p.Types[record.Memberships].Deletes.MaxPercent = ptr(120.0) },
			"safety.memberships.deletes.max_percent: 120 is over 100%, but deletes cannot exceed the base; write off to disable the limit"},
		{"updates over 100%", func(p *Policy) { p.Types[record.Persons].Updates.MaxPercent = ptr(100.5) },
			"safety.persons.updates.max_percent: 100.5 is over 100%, but updates cannot exceed the base; write off to disable the limit"},
		{"NaN percent", func(p *Policy) { p.Types[record.Persons].Inserts.MaxPercent = ptr(nan()) }, "safety.persons.inserts.max_percent: NaN is not a percentage"},
		{"negative count", func(p *Policy) { p.Types[record.Groups].Inserts.MaxCount = ptr(-1) }, "safety.groups.inserts.max_count: -1 is negative"},
		{"inserts over 100% are fine", func(p *Policy) { p.Types[record.Persons].Inserts.MaxPercent = ptr(300.0) }, ""},
		{"off limits are fine", func(p *Policy) { p.Types[record.Persons].Deletes = Limit{} }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := DefaultPolicy()
			tc.modify(&p)
			err := p.Validate()
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Fatalf("Validate() = %q, want %q", got, tc.want)
			}
		})
	}
}

func nan() float64 { var z float64; return z / z }

func BenchmarkCheck(b *testing.B) {
	p := DefaultPolicy()
	c := Counts{{Base: 20000, Inserts: 300, Updates: 12000, Deletes: 4000}, {Base: 900, Deletes: 200}, {Base: 150000, Deletes: 30000}}
	for b.Loop() {
		Check(c, p)
	}
}

// TestCheckSkipped: more skipped records of a type than max_skipped allows (default 1% of the
// type's records in the file, never fewer than 25) fail the run.
func TestCheckSkipped(t *testing.T) {
	t.Parallel()
	def := DefaultPolicy().MaxSkipped
	P, G, M := record.Persons, record.Groups, record.Memberships
	at := func(t record.Type, n int) [4]int { var c [4]int; c[t] = n; return c }
	tests := []struct {
		name             string
		skipped, records [4]int
		limit            Limit
		want             []string
	}{
		{"none skipped", [4]int{}, [4]int{1000, 100, 10000}, def, nil},
		{"25 of a small file pass (the floor)", at(P, 25), at(P, 40), def, nil},
		{"26 of a small file fail", at(P, 26), at(P, 40), def, []string{"26 of 40 persons skipped as bad, over the limit of 25 (max_skipped)"}},
		{"1% of a big file passes", at(M, 5000), at(M, 500000), def, nil},
		{"492,000 warnings fail", at(M, 492000), at(M, 500000), def, []string{"492000 of 500000 memberships skipped as bad, over the limit of 5000 (max_skipped)"}},
		{"each type alone", [4]int{30, 30, 30}, [4]int{10000, 100, 100000}, def, []string{"30 of 100 groups skipped as bad, over the limit of 25 (max_skipped)"}},
		{"a count limit is exact", at(G, 4), at(G, 1000), Limit{MaxCount: ptr(3)}, []string{"4 of 1000 groups skipped as bad, over the limit of 3 (max_skipped)"}},
		{"off", at(M, 492000), at(M, 500000), Limit{}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, s := range CheckSkipped(tc.skipped, tc.records, tc.limit) {
				got = append(got, s.String())
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}
