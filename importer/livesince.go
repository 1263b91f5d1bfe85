package importer

import (
	"context"
	"errors"
	"fmt"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/store"
)

// liveSince is what moved a tenant's state between a held plan's version and its approval:
// live requests only, none of which touched what the plan changes. The plan is then applied on
// top of them (rebase) instead of being refused, so an operator can approve a held night while
// the tenant's SIS keeps sending.
type liveSince struct {
	from, to int64
	requests int
}

// errConflict stops the reading of a held plan at its first change that a live request touched.
var errConflict = errors.New("a change of the plan was touched by a live request")

// liveSinceHold checks, with the tenant locked, whether the state moved since plan (a held run's
// head) was made: nil when it did not. When it did, only by live requests, and none of them
// touched what the plan changes (change.Touched.Conflict, over the stored plan read once), it
// returns them; otherwise it refuses, saying why. A rollover is planned again instead
// (rolloverToApply).
func (im *Importer) liveSinceHold(ctx context.Context, run *runs.Run, plan *change.Plan) (*liveSince, error) {
	now, err := im.store.StateVersion(ctx, run.Tenant)
	if err != nil {
		return nil, err
	}
	if now == plan.BaseVersion {
		return nil, nil
	}
	lv, ok := im.store.(store.Live)
	if !ok {
		return nil, stateChanged(plan.BaseVersion, now, "")
	}
	touched, err := lv.LiveTouched(ctx, run.Tenant, run.StartedAt, plan.BaseVersion, now)
	if errors.Is(err, store.ErrStateChanged) {
		return nil, stateChanged(plan.BaseVersion, now, "")
	}
	if err != nil {
		return nil, err
	}
	// The plan is read to its end unless a change both sides made turns up: that says more to
	// an operator than the first change that names what the other side removed.
	var why string
	_, err = im.readHeld(ctx, run, func(p *change.Plan) error {
		reason, direct := touched.Collides(p)
		if direct || why == "" {
			why = reason
		}
		if direct {
			return errConflict
		}
		return nil
	})
	if why != "" {
		return nil, stateChanged(plan.BaseVersion, now, fmt.Sprintf("by %s, and %s", requests(touched.Requests), why))
	}
	if err != nil {
		return nil, err
	}
	return &liveSince{from: plan.BaseVersion, to: now, requests: touched.Requests}, nil
}

// rebase makes plan, its pieces and run's record apply on top of the live requests: the plan
// at the state version now, and a notice that says so.
func (l *liveSince) rebase(run *runs.Run, plan *change.Plan, pieces func(func(*change.Plan) error) error) func(func(*change.Plan) error) error {
	plan.BaseVersion = l.to
	run.Attention = append(run.Attention, change.Notice{Kind: change.NoticeLiveSinceHold, Message: fmt.Sprintf(
		"%s changed the tenant's state after this plan was made (state version %d then, %d at approval); none of them touched what the plan changes, so it was applied on top of them, and the counts before and after include their changes",
		requests(l.requests), l.from, l.to)})
	return func(each func(*change.Plan) error) error {
		return pieces(func(p *change.Plan) error {
			p.BaseVersion = l.to
			return each(p)
		})
	}
}

// recount sets run's counts after to the state the approval left, and before to that less the
// run's own changes: the live requests' changes are then in both, so each type's before, its
// changes and its after still add up (a hold-removals run's inserts, applied at the import,
// are counted once).
func (l *liveSince) recount(run *runs.Run, after store.TenantStatus) {
	for _, c := range []struct {
		counts *change.TypeCounts
		now    int
	}{{&run.Counts.Persons, after.Persons.Active}, {&run.Counts.Groups, after.Groups.Active},
		{&run.Counts.Memberships, after.Memberships.Synced}, {&run.Counts.Relations, after.Relations.Active}} {
		c.counts.Before, c.counts.After = c.now-(c.counts.After-c.counts.Before), c.now
	}
}

func requests(n int) string {
	if n == 1 {
		return "1 live request"
	}
	return fmt.Sprintf("%d live requests", n)
}

// stateChanged is approval's refusal when the state moved since the plan was made (why, when
// known, says how).
func stateChanged(then, now int64, why string) error {
	if why != "" {
		why = ", " + why
	}
	return fmt.Errorf("refused: the tenant's state changed since the plan was made (state version %d then, %d now%s), so the plan no longer describes what it would do; nothing was changed. Run the import again and approve the new run if it is still held",
		then, now, why)
}
