package runs

import (
	"testing"

	"github.com/imsfeed/imsfeed/safety"
)

// TestPastOutcomes: how the safety backtest sorts stored runs: approved and passed nights are
// normal, a rejected or undone run is rejected, an undo's own run and a failed run are not
// replayed, and only applied runs count in the rolling window.
func TestPastOutcomes(t *testing.T) {
	d := &Decision{By: "Kari", Reason: "ok"}
	for _, tc := range []struct {
		name                      string
		r                         Run
		outcome                   safety.Outcome
		replay, applied, accepted bool
	}{
		{"passed", Run{Status: Completed, Verdict: safety.Verdict{Passed: true}}, safety.Passed, true, true, false},
		{"approved", Run{Status: Completed, Approval: d}, safety.Approved, true, true, true},
		{"rejected", Run{Status: Rejected, Rejection: d}, safety.Rejected, true, false, false},
		{"undone", Run{Status: Completed, Verdict: safety.Verdict{Passed: true}, UndoneBy: 9}, safety.Rejected, true, true, false},
		{"held", Run{Status: Held}, safety.Open, true, false, false},
		{"superseded", Run{Status: Superseded}, safety.Open, true, false, false},
		{"undo's own run", Run{Status: Completed, Mode: ModeUndo, Undo: &Undo{Runs: []int64{8}}}, safety.Passed, false, true, true},
		{"failed", Run{Status: Failed}, "", false, false, false},
		// Not nights the filter decided: an operator's restore, a rollover (always held).
		{"restore", Run{Status: Completed, Mode: ModeRestore, Verdict: safety.Verdict{Passed: true}}, safety.Passed, false, true, false},
		{"approved rollover", Run{Status: Completed, Mode: ModeRollover, Approval: d}, safety.Approved, false, true, true},
	} {
		p := tc.r.Past()
		if p.Outcome != tc.outcome || p.Replay != tc.replay || p.Applied != tc.applied || p.Accepted != tc.accepted {
			t.Errorf("%s: %+v", tc.name, p)
		}
	}
}
