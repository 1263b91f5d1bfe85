package importer

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/hierarchy"
	"github.com/imsfeed/imsfeed/mailer"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/safety"
	"github.com/imsfeed/imsfeed/store"
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
	// What the hold holds is mostly pointer-free (the persons' index and names, the plan's
	// groups, the mail's first changes) and live throughout, as a re-import's state: at Go's
	// default the heap grew to twice it (the 1 GB feed's tenant: 203 MB peak RSS, 121 MB at 25).
	defer importGC()()
	h, err := im.rolloverToHold(ctx, t, p.To)
	if err != nil {
		return fail(err)
	}
	plan, from := h.plan, h.from
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
	// A rollover removes no person from a group (only the archived courses and the old node
	// from the groups they are members of), so its hold has no removals to break down
	// (archive.Removals of its plan is empty).
	index := func(p *change.Plan, persons personsApart, memberships membershipSource) *store.HeldIndex {
		var failed error
		return &store.HeldIndex{Changes: heldChangesOf(p, h.st, persons, memberships, &failed), Err: func() error { return failed }}
	}
	if err := im.holdOf(ctx, run, plan, nil, h.memberships, index); err != nil {
		return im.fail(ctx, t, run, err)
	}
	im.supersede(ctx, t, run)
	im.log.Info("school-year rollover held for approval", "tenant", t.ID, "run", run.ID, "from", from, "to", p.To, "by", p.By)
	im.report(ctx, t, run, h.report)
	return run, nil
}

// rolloverHold is a rollover's plan as it is held. With a store that scans memberships
// (store.MembershipScanner), its membership changes (nearly half of a large tenant's
// memberships, which would be hundreds of MB as a list) are not listed but read again from the
// stored memberships, in the plan's order, each time they are needed: to encode the plan and
// to write its page's rows (the store counts them, and the status mail's first ones are read
// alone); the state holds no memberships either, and its persons are an index that keeps
// their names (the page names nearly every person).
type rolloverHold struct {
	plan *change.Plan // its membership changes listed only when memberships is nil
	// memberships gives the plan's membership changes; nil when the plan lists them.
	memberships membershipSource
	// report is what the status mail lists: the plan's changes as far as mailer.MaxCSVRows,
	// the rest counted in Early (as reportLists gathers a held plan's).
	report *change.Plan
	st     *change.State // without memberships when memberships is set
	from   string        // the school year it leaves
}

// rolloverToHold plans the rollover of tenant t to the school year to, from the state now.
func (im *Importer) rolloverToHold(ctx context.Context, t *config.Tenant, to string) (*rolloverHold, error) {
	scanner, ok := im.store.(store.MembershipScanner)
	if !ok {
		st, err := im.store.LoadState(ctx, t.ID)
		if err != nil {
			return nil, fmt.Errorf("load state: %w", err)
		}
		plan, from, err := rolloverPlan(t, st, to)
		if err != nil {
			return nil, err
		}
		return &rolloverHold{plan: plan, report: plan, st: st, from: from}, nil
	}
	scanned, err := scanner.LoadStateScanned(ctx, t.ID)
	if err != nil {
		return nil, fmt.Errorf("load state: %w", err)
	}
	st := scanned.State
	from, err := rolloverFrom(t, st, to)
	if err != nil {
		return nil, err
	}
	plan, rule := hierarchy.RolloverGroups(st, t.SchoolYear.YearNode(from).Key, t.Placement("").ArchiveParents())
	plan.Mode, plan.SchoolYear = ModeRollover, to
	scanStored := scanned.Scan // (not scanned: its state's groups go below)
	scan := func(fn func(record.MembershipKey, change.MembershipState) error) error {
		return scanStored(rule.Courses(), fn) // every membership the rule changes
	}
	h := &rolloverHold{plan: plan, st: st, from: from}
	h.memberships = func(yield func(*change.Membership) error) error {
		var c change.Membership // one for all: each is used within yield (membershipSource)
		return scan(func(k record.MembershipKey, m change.MembershipState) error {
			var ok bool
			if c, ok = rule.Change(k, m); ok {
				return yield(&c)
			}
			return nil
		})
	}
	// Counted without reading the changes one by one: each synced membership of an archived
	// course is turned manual, and of the others only some of those whose member is a group
	// (Scan of no group gives them) change.
	manualized, err := scanned.CountSynced(rule.Courses())
	if err != nil {
		return nil, err
	}
	ops := map[change.Op]int{change.Manualize: manualized}
	named := map[string]bool{} // the groups of those the page and mail may name
	err = scanned.Scan(nil, func(k record.MembershipKey, m change.MembershipState) error {
		c, ok := rule.Change(k, m)
		if !ok {
			return nil
		}
		named[k.Group], named[k.Member] = true, true
		if !rule.Manualizes(k.Group) {
			ops[c.Op]++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	n := 0
	for _, k := range ops {
		n += k
	}
	before := st.Active() // (its memberships: none held)
	before[record.Memberships] = scanned.Synced
	plan.Counts = change.Tally(plan, before)
	for op, k := range ops {
		plan.Counts.Count(record.Memberships, op, k)
	}
	// From here on the state only names what the page and the mail show, and its groups (a
	// large tenant's tens of thousands, with their parents) go before the mail's changes are
	// read: those of the plan and those of its changes of memberships whose member is a group.
	st = namingState(st, plan, named)
	h.st = st
	// The status mail lists the first changes: a read stopped once it has them.
	report := *plan
	room := min(n, max(0, mailer.MaxCSVRows-len(plan.Groups)))
	report.Memberships = make([]change.Membership, 0, room)
	if room > 0 {
		err = scan(func(k record.MembershipKey, m change.MembershipState) error {
			c, ok := rule.Change(k, m)
			if !ok {
				return nil
			}
			if report.Memberships = append(report.Memberships, c); len(report.Memberships) == room {
				return errYieldStopped
			}
			return nil
		})
		if err != nil && !errors.Is(err, errYieldStopped) {
			return nil, err
		}
	}
	plan.Names = change.NamesFor(&report, st, 1000) // the first changes', as rolloverPlan's
	report.Counts, report.Names = plan.Counts, plan.Names
	report.Early[record.Memberships] = n - len(report.Memberships)
	h.report = &report
	return h, nil
}

// namingState is st as far as a rollover's hold names it once its plan is made and counted:
// its persons, and of its groups those the plan changes (by their names in the plan) and the
// ones of named.
func namingState(st *change.State, plan *change.Plan, named map[string]bool) *change.State {
	groups := make(map[string]change.GroupState, len(plan.Groups)+len(named))
	for i := range plan.Groups {
		groups[plan.Groups[i].Group.Key] = change.GroupState{Name: plan.Groups[i].Group.Name}
	}
	for k := range named {
		if g, ok := st.Groups[k]; ok {
			groups[k] = g
		}
	}
	return &change.State{Tenant: st.Tenant, Version: st.Version, SchoolYear: st.SchoolYear,
		Persons: st.Persons, StoredPersons: st.StoredPersons, Groups: groups}
}

// rolloverPlan plans the rollover of state st to the school year to: every course under the
// current year's node archived, the node deleted, to made current, from the whole state (a
// store that cannot scan its memberships: rolloverToHold).
func rolloverPlan(t *config.Tenant, st *change.State, to string) (plan *change.Plan, from string, err error) {
	if from, err = rolloverFrom(t, st, to); err != nil {
		return nil, from, err
	}
	plan = hierarchy.Rollover(st, t.SchoolYear.YearNode(from).Key, t.Placement("").ArchiveParents())
	plan.Mode, plan.SchoolYear = ModeRollover, to
	plan.Counts = change.Tally(plan, st.Active())
	plan.Names = change.NamesFor(plan, st, 1000)
	return plan, from, nil
}

// rolloverFrom is the school year a rollover of state st to the year to leaves: the current
// one, which must not be to.
func rolloverFrom(t *config.Tenant, st *change.State, to string) (string, error) {
	from := st.SchoolYear
	if from == "" {
		from = t.SchoolYear.Current
	}
	if from == to {
		return from, fmt.Errorf("%s is already the current school year", to)
	}
	return from, nil
}

// rolloverToApply is what an approval of held rollover run applies, given the held plan's head
// (as far as its first change). When the state is the one the rollover was held at: that head
// with the school year it makes current, and no replan (its changes are read in pieces as any
// held plan's). When nights changed the state since: the held plan is read through and checked
// as any approval checks it, then the rollover is planned again from the state now
// (replanRollover) and the head returned is that plan's, its changes to be given by
// replan.pieces.
func (im *Importer) rolloverToApply(ctx context.Context, t *config.Tenant, run *runs.Run, head *change.Plan) (plan *change.Plan, replan *rolloverHold, err error) {
	// The year comes after the plan's changes: it is the one the run says it moves to, and the
	// first read of the pieces checks that the plan says so too, before anything is written.
	held := *head
	held.SchoolYear, held.Counts = rolloverTo(run), run.Counts
	v, err := im.store.StateVersion(ctx, run.Tenant)
	if err != nil {
		return nil, nil, err
	}
	if v == held.BaseVersion {
		return &held, nil, nil
	}
	read, err := im.readHeld(ctx, run, func(*change.Plan) error { return nil })
	if err != nil {
		return nil, nil, err
	}
	held.SchoolYear = read.SchoolYear
	if replan, err = im.replanRollover(ctx, t, run, &held); err != nil {
		return nil, nil, err
	}
	p := replan.plan
	return &change.Plan{Tenant: p.Tenant, Mode: p.Mode, BaseVersion: p.BaseVersion, SchoolYear: p.SchoolYear}, replan, nil
}

// rolloverTo is the school year a rollover's run moves to, as its File.Name says (rolloverFile).
func rolloverTo(run *runs.Run) string {
	_, to, _ := strings.Cut(run.File.Name, " → ")
	return to
}

// rolloverFile is the File.Name of a rollover's run: it says which year it leaves.
func rolloverFile(from, to string) string { return fmt.Sprintf("rollover %s → %s", from, to) }

// replanRollover plans again the rollover an approval applies when nights changed the state
// since the hold (new courses, removed ones): a rollover archives whatever is under the old
// year's node when it is applied, and the operator approved the rollover, not a list that has
// gone stale. It is planned as a hold plans it (rolloverToHold: the state scanned, its
// membership changes read from the store in pieces, never listed whole), and the run says so
// with both counts. It refuses, changing nothing, when the year it leaves is no longer the
// current one.
func (im *Importer) replanRollover(ctx context.Context, t *config.Tenant, run *runs.Run, held *change.Plan) (*rolloverHold, error) {
	if t.SchoolYear == nil {
		return nil, errors.New("the tenant has no school_year in the config any more: there is no year to roll over")
	}
	h, err := im.rolloverToHold(ctx, t, held.SchoolYear)
	if err != nil {
		return nil, fmt.Errorf("refused, nothing was changed: %w", err)
	}
	if want := rolloverFile(h.from, held.SchoolYear); run.File.Name != want {
		return nil, fmt.Errorf("refused, nothing was changed: this run is a %s, but the current school year is now %s; plan the rollover again", run.File.Name, h.from)
	}
	plan := h.plan
	run.Attention = append(run.Attention, change.Notice{Kind: "rollover-replanned",
		Message: fmt.Sprintf("the tenant's state changed since the rollover was held (state version %d then, %d now): planned again at approval, %d courses archived (%d when held)",
			held.BaseVersion, plan.BaseVersion, plan.Counts.Groups.Archived, held.Counts.Groups.Archived)})
	run.Counts = plan.Counts
	im.log.Info("held rollover planned again at approval", "tenant", t.ID, "run", run.ID, "held_version", held.BaseVersion, "version", plan.BaseVersion)
	return h, nil
}

// pieces gives the changes of h's plan to an apply (store.ApplyParams.Pieces) in pieces of
// heldPiece changes of one type each, as an approval reads a held plan: its listed changes, and
// the membership changes memberships gives, read from the store again at each call.
func (h *rolloverHold) pieces() func(func(*change.Plan) error) error {
	return piecesOf(h.plan, nil, h.memberships, heldPiece)
}
