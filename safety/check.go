package safety

import (
	"fmt"
	"math"
	"strconv"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
)

// Check applies the policy to the counts. A limit of type T and operation O trips when
//
//	count ≥ min_changes  and  (100×count/base > max_percent  or  count > max_count)
//
// with min_changes the type's override or else the tenant's. A count of 0 never trips.
// min_changes does not protect a run that removes more than half of a type (all of it,
// say): a header-only file must not empty a small school because 24 < 25.
//
// Base 0: the percent is taken as infinite (every object would be new). Inserts into an empty
// type are the initial load and do not trip unless HoldInitialLoad is set; then they trip like
// any other over-limit insert (a percent limit always, a count limit when exceeded). Updates
// and deletes need something to update or delete, so with base 0 their counts should be 0; if
// they are not, they trip by the same rule rather than pass unnoticed. A trip's reported
// Percent for base 0 is 100.
//
// The rolling window: when the policy has one and this run removes something, the removals
// applied within the window before it (TypeCounts.Earlier) plus this run's are checked against
// the deletes limit too, with the base at the window's start; such a trip carries Window. A
// slow bleed (9% a night) is held on the night the sum crosses the limit.
//
// The verdict's OnTrip is the policy's, except that hold-removals becomes stop when an inserts
// or updates limit tripped (holding removals would not hold what tripped). An empty policy
// OnTrip means stop. Check does not validate the policy (see Validate); a limit with both
// fields nil never trips.
func Check(c Counts, p Policy) Verdict {
	v := Verdict{Passed: true, Tripped: []Trip{}}
	for _, t := range record.AllTypes {
		tc := c[t]
		tp := p.Types[t]
		minChanges := p.MinChanges
		if tp.MinChanges != nil {
			minChanges = *tp.MinChanges
		}
		for _, op := range Ops {
			if tr, ok := check(t, op, tc.Of(op), tc.Base, minChanges, tp.limit(op), p.HoldInitialLoad); ok {
				v.Tripped = append(v.Tripped, tr)
			}
		}
		if e := tc.Earlier; p.WindowDays > 0 && tc.Deletes > 0 && e.Deletes > 0 && e.Base > 0 {
			if tr, ok := check(t, Deletes, e.Deletes+tc.Deletes, e.Base, minChanges, &tp.Deletes, p.HoldInitialLoad); ok {
				tr.Window = FormatWindow(p.WindowDays)
				v.Tripped = append(v.Tripped, tr)
			}
		}
	}
	if len(v.Tripped) > 0 {
		v.Passed = false
		v.OnTrip = Stop
		if p.OnTrip == HoldRemovals && onlyDeletes(v.Tripped) {
			v.OnTrip = HoldRemovals
		}
	}
	return v
}

// check applies one limit to one count.
func check(t record.Type, op Op, n, base, minChanges int, lim *Limit, holdInitialLoad bool) (Trip, bool) {
	if n <= 0 {
		return Trip{}, false
	}
	mostRemoved := op == Deletes && base > 0 && 2*n > base
	if n < minChanges && !mostRemoved {
		return Trip{}, false
	}
	if base <= 0 && op == Inserts && !holdInitialLoad {
		return Trip{}, false
	}
	pct := math.Inf(1)
	if base > 0 {
		pct = 100 * float64(n) / float64(base)
	}
	overPct := lim.MaxPercent != nil && pct > *lim.MaxPercent
	overCount := lim.MaxCount != nil && n > *lim.MaxCount
	if !overPct && !overCount {
		return Trip{}, false
	}
	return Trip{
		Type:       t.String(),
		Op:         op,
		Count:      n,
		Base:       base,
		Percent:    shown(pct, lim.MaxPercent, overPct),
		MaxPercent: copyPtr(lim.MaxPercent),
		MaxCount:   copyPtr(lim.MaxCount),
	}, true
}

// FormatWindow writes a window of days as the config does, e.g. "7d".
func FormatWindow(days int) string { return strconv.Itoa(days) + "d" }

// onlyDeletes reports whether every trip is a deletes limit. Holding back removals answers
// only those: a tripped inserts or updates limit (a mass restore, say) would be applied anyway,
// so such a verdict stops the whole run even under hold-removals.
func onlyDeletes(trips []Trip) bool {
	for _, t := range trips {
		if t.Op != Deletes {
			return false
		}
	}
	return true
}

// shown rounds a percent to 0.1 for the verdict. When the percent limit was crossed, the shown
// value stays above the limit (10.04% over a 10% limit shows as 10.1, not "10.0% > 10%").
func shown(pct float64, max *float64, over bool) float64 {
	if math.IsInf(pct, 1) {
		return 100
	}
	r := math.Round(pct*10) / 10
	if over && r <= *max {
		r = math.Ceil(pct*10) / 10
	}
	return r
}

func copyPtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func (tp *TypePolicy) limit(op Op) *Limit {
	switch op {
	case Inserts:
		return &tp.Inserts
	case Updates:
		return &tp.Updates
	default:
		return &tp.Deletes
	}
}

// CountsFrom maps a run's counts to the filter's input. Base is the active count before the
// run; restores count as inserts; archivals count as deletes for persons and groups. For
// memberships, Archived counts synced memberships turned manual by a course archival: they are
// kept, so they are not deletes. Cascaded membership and relation removals are already in
// Deleted.
func CountsFrom(c change.Counts) Counts {
	var out Counts
	for _, t := range record.AllTypes {
		tc := c.Of(t)
		del := tc.Deleted + tc.Archived
		if t == record.Memberships {
			del = tc.Deleted
		}
		out[t] = TypeCounts{Base: tc.Before, Inserts: tc.Inserted + tc.Restored, Updates: tc.Updated, Deletes: del}
	}
	return out
}

// DefaultPolicy is the policy of a tenant whose config says nothing about safety: changes below
// 25 objects of a kind never hold; above that, more than 20% new persons or groups (25% new
// memberships), 50% updated, or 10% removed (in one night, or within 7 days) holds the whole
// run for an operator (relations are limited as memberships are); removing more than half of a type holds however few it is. An initial
// load passes.
func DefaultPolicy() Policy {
	return Policy{
		MinChanges: 25,
		OnTrip:     Stop,
		WindowDays: DefaultWindowDays,
		MaxSkipped: pct(1),
		Types: [record.NumTypes]TypePolicy{
			record.Persons:     {Inserts: pct(20), Updates: pct(50), Deletes: pct(10)},
			record.Groups:      {Inserts: pct(20), Updates: pct(50), Deletes: pct(10)},
			record.Memberships: {Inserts: pct(25), Updates: pct(50), Deletes: pct(10)},
			record.Relations:   {Inserts: pct(25), Updates: pct(50), Deletes: pct(10)},
		},
	}
}

// MinSkipped is the floor of a percent max_skipped: a small file may always skip this many
// records of a type.
const MinSkipped = 25

// SkippedTrip is one type whose skipped records crossed max_skipped.
type SkippedTrip struct {
	Type    string
	Skipped int // records of the type skipped as bad
	Records int // records of the type in the file, skipped ones included
	Limit   int // the most that may be skipped
}

func (s SkippedTrip) String() string {
	return fmt.Sprintf("%d of %d %s skipped as bad, over the limit of %d (max_skipped)", s.Skipped, s.Records, s.Type, s.Limit)
}

// CheckSkipped applies max_skipped: per type, at most MaxCount skipped records, and at most
// MaxPercent of the type's records in the file but never fewer than MinSkipped. A file that
// is mostly bad is a broken export, not a night with a few bad records: its run must fail.
func CheckSkipped(skipped, records [record.NumTypes]int, l Limit) []SkippedTrip {
	var out []SkippedTrip
	for _, t := range record.AllTypes {
		limit := math.MaxInt
		if l.MaxCount != nil {
			limit = *l.MaxCount
		}
		if l.MaxPercent != nil {
			limit = min(limit, max(MinSkipped, int(math.Floor(*l.MaxPercent*float64(records[t])/100))))
		}
		if skipped[t] > limit {
			out = append(out, SkippedTrip{Type: t.String(), Skipped: skipped[t], Records: records[t], Limit: limit})
		}
	}
	return out
}

// DefaultWindowDays is the rolling window over which removals are limited, besides each run.
const DefaultWindowDays = 7

func pct(v float64) Limit { return Limit{MaxPercent: &v} }

// Validate reports the first invalid value of a policy built in Go, naming its key as the YAML
// config spells it (e.g. "safety.persons.deletes.max_percent: -5 is negative"). A policy read
// with UnmarshalYAML has already been checked.
func (p Policy) Validate() error {
	if p.MinChanges < 0 {
		return fmt.Errorf("safety.min_changes: %d is negative", p.MinChanges)
	}
	if l := p.MaxSkipped; l.MaxPercent != nil {
		if msg := percentProblem(*l.MaxPercent, Deletes); msg != "" {
			return fmt.Errorf("safety.max_skipped.max_percent: %s %s", strconv.FormatFloat(*l.MaxPercent, 'f', -1, 64), msg)
		}
	}
	if l := p.MaxSkipped; l.MaxCount != nil && *l.MaxCount < 0 {
		return fmt.Errorf("safety.max_skipped.max_count: %d is negative", *l.MaxCount)
	}
	if p.WindowDays < 0 {
		return fmt.Errorf("safety.window: %dd is negative", p.WindowDays)
	}
	if p.OnTrip != Stop && p.OnTrip != HoldRemovals {
		return fmt.Errorf("safety.on_trip: %q is not %q or %q", p.OnTrip, Stop, HoldRemovals)
	}
	for _, t := range record.AllTypes {
		tp := p.Types[t]
		if tp.MinChanges != nil && *tp.MinChanges < 0 {
			return fmt.Errorf("safety.%s.min_changes: %d is negative", t, *tp.MinChanges)
		}
		for _, op := range Ops {
			l := tp.limit(op)
			key := "safety." + t.String() + "." + string(op)
			if l.MaxPercent != nil {
				if msg := percentProblem(*l.MaxPercent, op); msg != "" {
					return fmt.Errorf("%s.max_percent: %s %s", key, strconv.FormatFloat(*l.MaxPercent, 'f', -1, 64), msg)
				}
			}
			if l.MaxCount != nil && *l.MaxCount < 0 {
				return fmt.Errorf("%s.max_count: %d is negative", key, *l.MaxCount)
			}
		}
	}
	return nil
}

// percentProblem says what is wrong with a max_percent, or "". Inserts may exceed 100% (a
// tenant may double); updates and deletes cannot, so a limit over 100% there is a mistake
// (write "off" to disable a limit).
func percentProblem(v float64, op Op) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "is not a percentage"
	case v < 0:
		return "is negative"
	case v > 100 && op != Inserts:
		return "is over 100%, but " + string(op) + " cannot exceed the base; write off to disable the limit"
	}
	return ""
}

// String is the trip as the status mail's subject and hold section show it, e.g.
// "persons deletes 23.4% > 10%", "memberships deletes 812 > 500" or, for the rolling window,
// "persons deletes 17.2% > 10% over 7d".
func (t Trip) String() string {
	s := t.limitString()
	if t.Window != "" {
		s += " over " + t.Window
	}
	return s
}

func (t Trip) limitString() string {
	head := t.Type + " " + string(t.Op) + " "
	switch {
	case t.Base == 0:
		return head + strconv.Itoa(t.Count) + " with no " + t.Type + " before"
	case t.MaxPercent != nil && t.Percent > *t.MaxPercent:
		return head + strconv.FormatFloat(t.Percent, 'f', 1, 64) + "% > " + strconv.FormatFloat(*t.MaxPercent, 'f', -1, 64) + "%"
	case t.MaxCount != nil:
		return head + strconv.Itoa(t.Count) + " > " + strconv.Itoa(*t.MaxCount)
	}
	return head + strconv.Itoa(t.Count)
}
