package importer

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/hierarchy"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/safety"
)

// ModeRollover is the mode of a school-year rollover's run and plan.
const ModeRollover = "rollover"

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
	from := st.SchoolYear
	if from == "" {
		from = t.SchoolYear.Current
	}
	if from == p.To {
		return fail(fmt.Errorf("%s is already the current school year", p.To))
	}
	old := t.SchoolYear.YearNode(from)
	plan := hierarchy.Rollover(st, old.Key, t.Placement("").ArchiveParents())
	plan.Mode, plan.SchoolYear = ModeRollover, p.To
	plan.Counts = change.Tally(plan, st.Active())
	plan.Names = change.NamesFor(plan, st, 1000)

	run := &runs.Run{Tenant: t.ID, Status: runs.Running, Mode: ModeRollover, StartedAt: im.now().UTC(),
		File:     runs.File{Name: fmt.Sprintf("rollover %s → %s", from, p.To)},
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
	if err := im.hold(ctx, run, plan); err != nil {
		return im.fail(ctx, t, run, err)
	}
	im.supersede(ctx, t, run)
	im.log.Info("school-year rollover held for approval", "tenant", t.ID, "run", run.ID, "from", from, "to", p.To, "by", p.By)
	im.report(ctx, t, run, plan)
	return run, nil
}
