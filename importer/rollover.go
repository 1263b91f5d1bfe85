package importer

import (
	"context"
	"errors"
	"fmt"
	"github.com/imsfeed/imsfeed/archive"
	"strings"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/hierarchy"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/safety"
)

// ModeRollover is the mode of a school-year rollover's run and plan.
const ModeRollover = runs.ModeRollover

// RolloverParams are Rollover's arguments: the new school year, who asks and why.
type RolloverParams struct {
	To, By, Reason string
}

// Rollover plans a school-year rollover of tenant t: every course under the current year's
// node archived (under courses.archive_node, their members kept as manual) and the new year
// made current. The plan is always held for an operator's approval, like a large change;
// the new year becomes current when it is applied.
func (im *Importer) Rollover(ctx context.Context, t *config.Tenant, p RolloverParams) (*runs.Run, error) {
	fail := func(err error) (*runs.Run, error) { return nil, fmt.Errorf("rollover %s: %w", t.ID, err) }
	switch {
	case t.SchoolYear == nil:
		return fail(errors.New("the tenant has no school_year in the config: there is no year to roll over"))
	case strings.TrimSpace(p.By) == "":
		return fail(errors.New("--by NAME is required (who asks)"))
	case strings.TrimSpace(p.Reason) == "":
		return fail(errors.New("--reason TEXT is required (why)"))
	}
	if err := config.ValidYear(p.To); err != nil {
		return fail(fmt.Errorf("--to: %w", err))
	}
	release, err := im.store.LockTenant(ctx, t.ID, im.cfg.LockWait)
	if err != nil {
		return fail(err)
	}
	defer release()
	st, err := im.store.LoadState(ctx, t.ID)
	if err != nil {
		return fail(fmt.Errorf("load state: %w", err))
	}
	plan, from, err := rolloverPlan(t, st, p.To)
	if err != nil {
		return fail(err)
	}
	old := t.SchoolYear.YearNode(from)

	run := &runs.Run{Tenant: t.ID, Status: runs.Running, Mode: ModeRollover, StartedAt: im.now().UTC(),
		File:     runs.File{Name: rolloverFile(from, p.To)},
		Warnings: []record.Warning{}, Attention: []change.Notice{},
		Reason: fmt.Sprintf("school-year rollover %s → %s asked by %s: %s; %d courses under %q to archive",
			from, p.To, p.By, p.Reason, plan.Counts.Groups.Archived, old.Key)}
	run.Counts = plan.Counts
	run.VersionBefore, run.VersionAfter = plan.BaseVersion, plan.BaseVersion
	run.Verdict = im.check(ctx, t, plan)
	run.Verdict.Passed, run.Verdict.OnTrip = false, safety.Stop // a rollover always waits for an operator, whole
	if err := im.store.CreateRun(ctx, run); err != nil {
		return fail(err)
	}
	if err := im.hold(ctx, run, plan, heldIndexer(st, archive.Removals(plan, st))); err != nil {
		return im.fail(ctx, t, run, err)
	}
	im.supersede(ctx, t, run)
	im.log.Info("school-year rollover held for approval", "tenant", t.ID, "run", run.ID, "from", from, "to", p.To, "by", p.By)
	im.report(ctx, t, run, plan)
	return run, nil
}

// rolloverPlan plans the rollover of state st to the school year to: every course under the
// current year's node archived, the node deleted, to made current. It is a function of the
// state alone, so an approval can make it again when nights changed the state meanwhile.
func rolloverPlan(t *config.Tenant, st *change.State, to string) (plan *change.Plan, from string, err error) {
	from = st.SchoolYear
	if from == "" {
		from = t.SchoolYear.Current
	}
	if from == to {
		return nil, from, fmt.Errorf("%s is already the current school year", to)
	}
	plan = hierarchy.Rollover(st, t.SchoolYear.YearNode(from).Key, t.Placement("").ArchiveParents())
	plan.Mode, plan.SchoolYear = ModeRollover, to
	plan.Counts = change.Tally(plan, st.Active())
	plan.Names = change.NamesFor(plan, st, 1000)
	return plan, from, nil
}

// rolloverFile is the File.Name of a rollover's run: it says which year it leaves.
func rolloverFile(from, to string) string { return fmt.Sprintf("rollover %s → %s", from, to) }

// replanRollover gives the plan an approval of a held rollover applies. A rollover archives
// whatever is under the old year's node when it is applied, so when nights changed the state
// since the hold (new courses, removed ones) it is planned again from the state now, and the run
// says so with both counts; the operator approved the rollover, not a list that has gone stale.
// It refuses, changing nothing, when the year it leaves is no longer the current one.
func (im *Importer) replanRollover(ctx context.Context, t *config.Tenant, run *runs.Run, held *change.Plan) (*change.Plan, error) {
	if t.SchoolYear == nil {
		return nil, errors.New("the tenant has no school_year in the config any more: there is no year to roll over")
	}
	v, err := im.store.StateVersion(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	if v == held.BaseVersion {
		return held, nil
	}
	st, err := im.store.LoadState(ctx, t.ID)
	if err != nil {
		return nil, fmt.Errorf("load state: %w", err)
	}
	plan, from, err := rolloverPlan(t, st, held.SchoolYear)
	if err != nil {
		return nil, fmt.Errorf("refused, nothing was changed: %w", err)
	}
	if want := rolloverFile(from, held.SchoolYear); run.File.Name != want {
		return nil, fmt.Errorf("refused, nothing was changed: this run is a %s, but the current school year is now %s; plan the rollover again", run.File.Name, from)
	}
	run.Attention = append(run.Attention, change.Notice{Kind: "rollover-replanned",
		Message: fmt.Sprintf("the tenant's state changed since the rollover was held (state version %d then, %d now): planned again at approval, %d courses archived (%d when held)",
			held.BaseVersion, v, plan.Counts.Groups.Archived, held.Counts.Groups.Archived)})
	run.Counts = plan.Counts
	im.log.Info("held rollover planned again at approval", "tenant", t.ID, "run", run.ID, "held_version", held.BaseVersion, "version", v)
	return plan, nil
}
