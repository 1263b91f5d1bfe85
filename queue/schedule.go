package queue

import (
	"errors"
	"time"

	"github.com/adhocore/gronx"

	"github.com/imsfeed/imsfeed/config"
)

// SlotAfter is the tenant's first scheduled slot after after. The schedule is read on the wall
// clock of the tenant's timezone (the machine's without one): "0 2 * * *" of an Oslo tenant is
// 02:00 in Oslo, winter and summer. Across a change of the clocks it does what cron does for a
// fixed time: a time the clocks skip (02:30 on the night they go forward) runs once, when they
// have gone forward (03:00 summer time); a time that comes twice (the night they go back) runs
// once, the first time.
func SlotAfter(t *config.Tenant, after time.Time) (time.Time, error) {
	loc := t.Location()
	// gronx steps through times in their own zone and trips over its changes; it walks the
	// wall clock as if it were UTC, and each wall time found is then placed in the zone.
	wall := after.In(loc)
	c := time.Date(wall.Year(), wall.Month(), wall.Day(), wall.Hour(), wall.Minute(), wall.Second(), wall.Nanosecond(), time.UTC)
	for range 5000 { // the wall times passed over are at most the repeated hour's
		next, err := gronx.NextTickAfter(t.Schedule, c, false)
		if err != nil {
			return time.Time{}, err
		}
		if slot := instant(next, loc); slot.After(after) {
			return slot, nil
		}
		c = next
	}
	return time.Time{}, errNoSlot
}

var errNoSlot = errors.New("the schedule has no next slot")

// instant places the wall time w (its fields, read as UTC) in loc: its first occurrence when
// the clocks go back, and the moment the clocks went forward when they skipped it.
func instant(w time.Time, loc *time.Location) time.Time {
	var first time.Time
	for _, probe := range []time.Duration{-12 * time.Hour, 12 * time.Hour} {
		_, off := w.Add(probe).In(loc).Zone() // the zone's offset before and after any change near w
		at := w.Add(-time.Duration(off) * time.Second)
		if sameWall(at.In(loc), w) && (first.IsZero() || at.Before(first)) {
			first = at
		}
	}
	if !first.IsZero() {
		return first
	}
	// Skipped: the change to the later offset happened between the two readings.
	_, before := w.Add(-12 * time.Hour).In(loc).Zone()
	start, _ := w.Add(-time.Duration(before) * time.Second).In(loc).ZoneBounds()
	return start
}

func sameWall(a, w time.Time) bool {
	return a.Year() == w.Year() && a.YearDay() == w.YearDay() && a.Hour() == w.Hour() && a.Minute() == w.Minute() && a.Second() == w.Second()
}
