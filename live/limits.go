package live

import (
	"math"

	"github.com/imsfeed/imsfeed/safety"
)

// The live delete limits' pure part: what a request's removals count against each type's
// limits, and how far the base must be counted to know whether they cross them.

// maxBaseBound is the most rows of one type a request's check counts before it counts the
// tenant's rows whole instead: a day of more than about a thousand removals of a type under a
// 10 % limit.
const maxBaseBound = 10000

// liveDeletes are the removals (persons, groups, memberships) a request is checked with: those
// applied in the window (done) plus its own (now), less the window's allowances, taken from the
// largest removal first; a type's count under its min_changes is 0 (it never trips here: the
// nightly rule that more than half of a type is held whatever min_changes says guards against a
// header-only file, and would make a small tenant's explicit delete of one object impossible).
func liveDeletes(done, now [3]int, allowed int, p safety.Policy) [3]int {
	var d [3]int
	for i := range d {
		d[i] = done[i] + now[i]
	}
	for allowed > 0 {
		big := 0
		for i := range d {
			if d[i] > d[big] {
				big = i
			}
		}
		if d[big] == 0 {
			break
		}
		n := min(allowed, d[big])
		d[big] -= n
		allowed -= n
	}
	for i := range d {
		minChanges := p.MinChanges
		if mc := p.Types[i].MinChanges; mc != nil {
			minChanges = *mc
		}
		if d[i] < minChanges {
			d[i] = 0
		}
	}
	return d
}

// removalBounds is how far each type's active objects must be counted for the verdict on
// deletes: the base is the active ones plus the window's removals (done), and a percent limit
// can only be crossed while that base is under 100 × deletes / max_percent, so a count that
// reaches its bound decides "not crossed" as the whole count would. 0: the base does not matter
// (no deletes, no percent limit, or the window's removals alone are past the bound). ok is
// false when a bound is over maxBaseBound (or the limit is 0 %): then the whole count is read.
func removalBounds(deletes, done [3]int, p safety.Policy) (bounds [3]int, ok bool) {
	for i := range bounds {
		lim := p.Types[i].Deletes.MaxPercent
		if deletes[i] == 0 || lim == nil {
			continue
		}
		if *lim <= 0 {
			return bounds, false
		}
		b := math.Floor(100*float64(deletes[i])/(*lim)) + 2 - float64(done[i])
		if b > maxBaseBound {
			return bounds, false
		}
		bounds[i] = max(int(b), 0)
	}
	return bounds, true
}

// liveTrips are the deletes limits the removals cross on the base of active objects plus the
// window's removals. With active counted up to removalBounds, it is empty exactly when it is
// empty on the whole counts (a smaller base only raises the percentages, and a count at its
// bound keeps them under the limit); a non-empty result is decided again on the whole counts.
func liveTrips(deletes, active, done [3]int, p safety.Policy) []safety.Trip {
	var c safety.Counts
	for i := range deletes {
		c[i].Base = active[i] + done[i]
		c[i].Deletes = deletes[i]
	}
	p.WindowDays = 0 // the live window is the 24 h summed in done
	trips := []safety.Trip{}
	for _, tr := range safety.Check(c, p).Tripped {
		if tr.Op == safety.Deletes {
			trips = append(trips, tr)
		}
	}
	return trips
}
