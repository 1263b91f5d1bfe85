package safety

import (
	"math"
	"sort"

	"github.com/imsfeed/imsfeed/record"
)

// Outcome is what became of a past run, as the backtest sorts them.
type Outcome string

const (
	// Passed: the filter let it through and it was applied.
	Passed Outcome = "passed"
	// Approved: held, then approved by an operator (a normal night too).
	Approved Outcome = "approved"
	// Rejected: held and rejected by an operator, or applied and later undone.
	Rejected Outcome = "rejected"
	// Open: held and still waiting, or superseded by a newer file (nobody decided).
	Open Outcome = "open"
)

// Past is one stored run as the backtest needs it (runs.Run.Past builds it).
type Past struct {
	Run int64 `json:"run"`
	// Start is when the run started, in Unix seconds: the rolling window is measured from it.
	Start int64 `json:"start"`
	// Counts are the run's own counts (Earlier is filled by the replay).
	Counts  Counts  `json:"-"`
	Outcome Outcome `json:"outcome"`
	// Held and Tripped are the stored verdict, made with the policy of its night.
	Held    bool   `json:"held"`
	Tripped []Trip `json:"tripped"`
	// Applied: its changes were applied (a completed run): the window counts its removals.
	Applied bool `json:"-"`
	// Accepted: an operator accepted the state after it (an approved run, an undo): the window
	// does not look further back.
	Accepted bool `json:"-"`
	// Replay: the run went through the filter (an undo's own run did not).
	Replay bool `json:"-"`
}

// Change is a run whose verdict the replayed policy changes (held ↔ passed).
type Change struct {
	Run     int64   `json:"run"`
	Outcome Outcome `json:"outcome"`
	WasHeld bool    `json:"was_held"`
	Was     []Trip  `json:"was_tripped"`
	Held    bool    `json:"held"`
	Tripped []Trip  `json:"tripped"`
}

// Backtest is the replay of stored runs through a policy.
type Backtest struct {
	Runs    int      `json:"runs"`    // runs replayed
	Changed []Change `json:"changed"` // oldest first
}

// Replay runs the stored counts of history (oldest first) through p with Check, the filter's
// own function, and lists the last `last` replayed runs (0: all) whose verdict changes.
//
// The rolling window is rebuilt from the history as it happened: the removals of applied runs
// within the window before each run's start, back to the last approved run or undo, as the
// importer sums them. It is not a counterfactual: a run the replayed policy would pass but that
// was held and rejected changed nothing, so it is in no later window, and later bases are the
// stored ones.
func Replay(history []Past, p Policy, last int) Backtest {
	b := Backtest{Changed: []Change{}}
	idx := replayed(history, last)
	b.Runs = len(idx)
	for _, i := range idx {
		h := history[i]
		v := Check(withWindow(history, i, p.WindowDays), p)
		if v.Passed == !h.Held {
			continue
		}
		b.Changed = append(b.Changed, Change{Run: h.Run, Outcome: h.Outcome, WasHeld: h.Held, Was: nonNil(h.Tripped), Held: !v.Passed, Tripped: v.Tripped})
	}
	return b
}

// replayed returns the indexes of the last `last` runs that went through the filter.
func replayed(history []Past, last int) []int {
	var idx []int
	for i, h := range history {
		if h.Replay {
			idx = append(idx, i)
		}
	}
	if last > 0 && len(idx) > last {
		idx = idx[len(idx)-last:]
	}
	return idx
}

// withWindow is run i's counts with the rolling window before it (see importer's window).
func withWindow(history []Past, i, days int) Counts {
	c := history[i].Counts
	if days <= 0 {
		return c
	}
	since := history[i].Start - int64(days)*24*3600
	for j := i - 1; j >= 0; j-- {
		h := history[j]
		if h.Start < since {
			break
		}
		if !h.Applied {
			continue
		}
		if h.Accepted {
			break
		}
		for _, t := range record.AllTypes {
			if d := h.Counts[t].Deletes; d > 0 {
				c[t].Earlier.Deletes += d
				c[t].Earlier.Base = h.Counts[t].Base
			}
		}
	}
	return c
}

// Spread is the distribution of one type × operation's nightly percentages, and a suggested
// max_percent.
type Spread struct {
	Type   string  `json:"type"`
	Op     Op      `json:"op"`
	Nights int     `json:"nights"` // replayed runs with a base
	Median float64 `json:"median"`
	P95    float64 `json:"p95"`
	P99    float64 `json:"p99"`
	Max    float64 `json:"max"`
	Limit  Limit   `json:"limit"` // the policy's
	// Suggested is the lowest max_percent that passes every normal (passed or approved) night
	// of min_changes or more, rounded up to a whole percent or 0.1 when that still holds the
	// rejected runs this limit can hold; nil when no normal night reached min_changes.
	Suggested *float64 `json:"suggested"`
	// Holds are the rejected runs the suggested limit holds; Misses those of min_changes or
	// more it cannot hold without holding a normal night.
	Holds  []int64 `json:"holds"`
	Misses []int64 `json:"misses"`
}

// Suggestion is the nightly distribution, the suggested limits, and what they would have held.
type Suggestion struct {
	Spreads []Spread `json:"distribution"`
	// Policy is p with each suggested max_percent set (max_count and the rest kept).
	Policy Policy `json:"-"`
	// HeldNormal are normal nights the suggested policy still holds (a max_count, the window,
	// more than half removed); MissedRejected the rejected runs it passes.
	HeldNormal     []int64 `json:"held_normal"`
	MissedRejected []int64 `json:"missed_rejected"`
}

// Suggest computes per type × operation the percentiles (nearest rank) of the last `last`
// replayed runs' percentages (runs with base 0 left out) and the suggested limits, then replays
// the suggested policy with Check.
func Suggest(history []Past, p Policy, last int) Suggestion {
	s := Suggestion{Policy: p, HeldNormal: []int64{}, MissedRejected: []int64{}}
	idx := replayed(history, last)
	zero := 0.0
	for _, t := range record.AllTypes {
		tp := p.Types[t]
		minChanges := p.MinChanges
		if tp.MinChanges != nil {
			minChanges = *tp.MinChanges
		}
		for _, op := range Ops {
			sp := Spread{Type: t.String(), Op: op, Limit: *tp.limit(op), Holds: []int64{}, Misses: []int64{}}
			var pcts []float64
			lo, normals := 0.0, 0
			type rej struct {
				run int64
				pct float64
			}
			var rejs []rej
			for _, i := range idx {
				h := history[i]
				n, base := h.Counts[t].Of(op), h.Counts[t].Base
				if base <= 0 {
					continue
				}
				pct := 100 * float64(n) / float64(base)
				pcts = append(pcts, pct)
				// A limit of 0% trips exactly when this count is one the limit applies to.
				if _, subject := check(t, op, n, base, minChanges, &Limit{MaxPercent: &zero}, p.HoldInitialLoad); !subject {
					continue
				}
				switch h.Outcome {
				case Passed, Approved:
					lo = max(lo, pct)
					normals++
				case Rejected:
					rejs = append(rejs, rej{h.Run, pct})
				}
			}
			sp.Nights = len(pcts)
			if len(pcts) > 0 {
				sort.Float64s(pcts)
				sp.Median, sp.P95, sp.P99, sp.Max = round2(rank(pcts, 50)), round2(rank(pcts, 95)), round2(rank(pcts, 99)), round2(pcts[len(pcts)-1])
			}
			if normals > 0 {
				l := math.Ceil(lo*100) / 100 // shown to 0.01: still passes every normal night
				for _, c := range []float64{math.Ceil(lo), math.Ceil(lo*10) / 10} {
					ok := true
					for _, r := range rejs {
						if r.pct > lo && r.pct <= c {
							ok = false
						}
					}
					if ok {
						l = c
						break
					}
				}
				sp.Suggested = &l
				for _, r := range rejs {
					if r.pct > l {
						sp.Holds = append(sp.Holds, r.run)
					} else {
						sp.Misses = append(sp.Misses, r.run)
					}
				}
				lim := s.Policy.Types[t].limit(op)
				v := l
				lim.MaxPercent = &v
			}
			s.Spreads = append(s.Spreads, sp)
		}
	}
	for _, i := range idx {
		h := history[i]
		v := Check(withWindow(history, i, s.Policy.WindowDays), s.Policy)
		switch {
		case !v.Passed && (h.Outcome == Passed || h.Outcome == Approved):
			s.HeldNormal = append(s.HeldNormal, h.Run)
		case v.Passed && h.Outcome == Rejected:
			s.MissedRejected = append(s.MissedRejected, h.Run)
		}
	}
	return s
}

// rank is the p-th percentile of sorted values by nearest rank.
func rank(sorted []float64, p float64) float64 {
	k := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[max(k, 1)-1]
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

func nonNil(t []Trip) []Trip {
	if t == nil {
		return []Trip{}
	}
	return t
}
