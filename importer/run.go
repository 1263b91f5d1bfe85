package importer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/imsfeed/imsfeed/archive"
	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/diff"
	"github.com/imsfeed/imsfeed/hierarchy"
	"github.com/imsfeed/imsfeed/importer/ims"
	"github.com/imsfeed/imsfeed/mailer"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/safety"
	"github.com/imsfeed/imsfeed/store"
)

// EmptyDelta is the reason a completed run gives when its event (delta) file had no records:
// a quiet night in event mode changes nothing and is not a failure.
const EmptyDelta = "the event (delta) file has no records: nothing to change"

// ImportOptions change how ImportFile runs.
type ImportOptions struct {
	// DryRun makes the whole plan and verdict and applies nothing (`imsfeed plan`).
	DryRun bool
	// Plan, when set, receives the run's plan (also for dry runs and holds).
	Plan func(*change.Plan)

	// underLock, when set, runs once the tenant lock is held, before anything is recorded: a
	// run it returns (or its error) is the outcome, and the file is not imported.
	underLock func(ctx context.Context) (*runs.Run, error)
	fetchWait *time.Duration // how long Run's fetch waited for the file to settle
}

// ImportFile is one run of tenant t on a local file: read → diff → check → apply → report.
// It returns the run record; a run that failed because of its input is a run with status failed
// and a nil error. The error is for what kept the run from being recorded at all.
func (im *Importer) ImportFile(ctx context.Context, t *config.Tenant, path string, o ImportOptions) (*runs.Run, error) {
	file, err := fileInfo(path)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", t.ID, err)
	}
	return im.importFile(ctx, t, path, file, o)
}

func (im *Importer) importFile(ctx context.Context, t *config.Tenant, path string, file runs.File, o ImportOptions) (*runs.Run, error) {
	run := &runs.Run{Tenant: t.ID, Status: runs.Running, Mode: t.Mode, File: file, StartedAt: im.now().UTC(), Slot: slotOf(ctx),
		Warnings: []record.Warning{}, Attention: []change.Notice{}}
	if o.fetchWait != nil {
		run.SetFetchWait(*o.fetchWait)
	}

	// A dry run is for the person who typed it: it takes no lock, gets no run number, is not
	// recorded and mails nobody.
	if o.DryRun {
		return im.dryRun(ctx, t, path, run, o)
	}
	// One run per tenant at a time.
	release, err := im.store.LockTenant(ctx, t.ID, im.cfg.LockWait)
	if err != nil {
		if errors.Is(err, store.ErrLocked) {
			err = fmt.Errorf("%w (waited %s for tenant %s); nothing was read or changed. If no import of %s is running, look for a stuck imsfeed process",
				err, im.cfg.LockWait, t.ID, t.ID)
		} else {
			err = fmt.Errorf("lock tenant %s: %w", t.ID, err)
		}
		if d := deferred(ctx, err); d != nil {
			return nil, d
		}
		err = withEarlier(ctx, err)
		// Still an attempt: recorded and mailed, so that no mail means no attempt.
		if !im.recordNew(ctx, t, run, err) {
			return run, nil
		}
		return im.fail(ctx, t, run, err)
	}
	defer release()
	im.dropUndo(ctx, t)
	interrupted := im.closeInterrupted(ctx, t)
	run.Attention = append(run.Attention, interrupted...)
	if o.underLock != nil {
		done, err := o.underLock(withNotices(ctx, interrupted))
		if err != nil {
			if !im.recordNew(ctx, t, run, err) {
				return run, nil
			}
			return im.fail(ctx, t, run, err)
		}
		if done != nil {
			return done, nil
		}
	}
	if !im.recordNew(ctx, t, run, nil) {
		return run, nil
	}
	defer im.keepAlive(ctx, run.ID)()
	log := im.log.With("tenant", t.ID, "run", run.ID, "file", file.Name)
	log.Info("import started", "size", file.Size, fetchWaitAttr(run))

	nw, na := len(run.Warnings), len(run.Attention)
	plan, removals, err := im.decide(ctx, t, path, run, o, log)
	if errors.Is(err, store.ErrStateChanged) {
		// The tenant's state moved while the file was read (an operator's trash or archive
		// restore, say): plan once more against the new state rather than fail the night.
		log.Info("the tenant's state changed while the file was read; planning again against the new state", "err", err)
		run.Warnings, run.Attention = run.Warnings[:nw], run.Attention[:na]
		run.Status, run.FinishedAt, run.PlanSHA256, run.Reason = runs.Running, nil, "", ""
		plan, removals, err = im.decide(ctx, t, path, run, o, log)
	}
	if err != nil {
		return im.fail(ctx, t, run, err)
	}
	im.supersede(ctx, t, run)
	log.Info("import finished", "status", run.Status, "sha256", run.File.SHA256, "persons", countLine(run.Counts.Persons),
		"groups", countLine(run.Counts.Groups), "memberships", countLine(run.Counts.Memberships))
	if run.Status == runs.Held || run.Status == runs.Completed {
		// The status mail (its CSV lists up to 100,000 changes) is made beside the plan's
		// report; at Go's default target the heap grew to twice that (the 1 GB feed's broken
		// night: 150 MB live, 345 MB peak RSS, more than the hold itself; applied, 126 MB
		// live and 294 MB, more than the apply).
		defer applyGC()()
	}
	im.reportRemovals(ctx, t, run, plan, removals)
	return run, nil
}

// decide makes the plan, lets the safety filter judge it, and applies or holds it. An
// ErrStateChanged from the apply means the state moved since the plan was made (nothing was
// changed); the caller may plan again.
func (im *Importer) decide(ctx context.Context, t *config.Tenant, path string, run *runs.Run, o ImportOptions, log *slog.Logger) (*change.Plan, []archive.GroupRemovals, error) {
	nw := len(run.Warnings)
	p, removals, st, early, err := im.makePlan(ctx, t, path, run, true)
	if errors.Is(err, errPlanAgain) {
		log.Info("planning again without writing while reading", "why", err)
		run.Warnings = run.Warnings[:nw]
		p, removals, st, early, err = im.makePlan(ctx, t, path, run, false)
	}
	if err != nil {
		return nil, nil, err
	}
	defer func() { p.close() }() // (p may be planned again below)
	if st.Memberships.Len() > 0 || st.Stored != nil || st.HasPersons() {
		// A re-import's check and apply keep the GC target of its planning (gc.go): the
		// state is garbage now, and with the default the heap grew to twice what was live
		// at the end of the plan (the 317 MB feed's 1 %: about 40 MB more peak RSS), with a
		// floor under the headroom: at 25 % alone the apply of a 1 % change spent half its
		// CPU collecting.
		defer applyGC()()
	}
	if early != nil {
		defer early.Abort() // nothing once an apply committed them
	}
	// Check: the safety filter decides, on the counts (the plan's membership removals may be
	// apart: p.removed).
	verdict := im.check(ctx, t, p.plan)
	if !verdict.Passed && early != nil {
		// A hold writes in a transaction of its own and stores the whole plan, which one
		// made while writing does not hold: read the file again the ordinary way.
		early.Abort()
		log.Info("the safety filter holds an initial load written while reading: planning it again whole", "limits", tripSummary(verdict))
		run.Warnings = run.Warnings[:nw]
		if p, removals, st, early, err = im.makePlan(ctx, t, path, run, false); err != nil {
			return nil, nil, err
		}
		verdict = im.check(ctx, t, p.plan)
	}
	if early != nil {
		defer importGC()() // as from its Finish on (gc.go)
	}
	if o.Plan != nil || (verdict.Passed && !p.inPieces()) {
		// An apply, and a caller that asks for the plan, take it whole (a broken night that
		// passes is applied in pieces: planned.pieces).
		if _, err := p.whole(); err != nil {
			return nil, nil, err
		}
	}
	plan := p.plan
	if o.Plan != nil {
		o.Plan(plan)
	}
	run.Counts = plan.Counts
	run.Attention = append(run.Attention, plan.Attention...)
	run.VersionBefore, run.VersionAfter = plan.BaseVersion, plan.BaseVersion
	run.Verdict = verdict
	if !run.Verdict.Passed {
		log.Warn("safety filter tripped", "limits", tripSummary(run.Verdict))
	}
	switch {
	case run.Verdict.Passed && p.inPieces():
		err = im.applyPieces(ctx, run, p)
	case run.Verdict.Passed:
		err = im.apply(ctx, run, plan, early)
	case run.Verdict.OnTrip == safety.HoldRemovals:
		err = im.holdRemovals(ctx, run, p, heldIndexer(st, removals))
	default:
		err = im.hold(ctx, run, p, heldIndexer(st, removals))
	}
	if err != nil {
		return nil, nil, err
	}
	// The status mail's view of the plan: as far as it lists changes, when they are apart.
	report, err := p.report()
	return report, removals, err
}

// dryRun makes the plan and the verdict and returns them as a run with status planned and no
// ID (0). Nothing is stored, locked or mailed: `runs` shows only real attempts. A file that
// cannot be read is a failed dry run, equally unrecorded.
func (im *Importer) dryRun(ctx context.Context, t *config.Tenant, path string, run *runs.Run, o ImportOptions) (*runs.Run, error) {
	p, _, _, _, err := im.makePlan(ctx, t, path, run, false)
	var plan *change.Plan
	if err == nil {
		plan, err = p.whole()
		p.close()
	}
	if err != nil {
		run.Status = runs.Failed
		run.Error = runError(run.File.Name, err)
		im.finish(run)
		return run, nil
	}
	if o.Plan != nil {
		o.Plan(plan)
	}
	run.Status = runs.Planned
	run.Counts = plan.Counts
	run.Attention = append(run.Attention, plan.Attention...)
	run.VersionBefore, run.VersionAfter = plan.BaseVersion, plan.BaseVersion
	run.Verdict = im.check(ctx, t, plan)
	im.finish(run)
	return run, nil
}

// check is the safety filter's verdict on a plan, with the rolling window's figures read from
// the tenant's run records.
func (im *Importer) check(ctx context.Context, t *config.Tenant, plan *change.Plan) safety.Verdict {
	c := safety.CountsFrom(plan.Counts)
	if t.Safety.WindowDays > 0 {
		earlier, err := im.window(ctx, t.ID, t.Safety.WindowDays)
		if err != nil {
			// The night's own limits still apply; a store that cannot list runs will fail the
			// apply anyway.
			im.log.Warn("read the safety window's runs", "tenant", t.ID, "err", err)
		}
		for i := range c {
			c[i].Earlier = earlier[i]
		}
	}
	return safety.Check(c, t.Safety)
}

// windowRuns caps how many run records the window reads (a window of nightly runs has 7).
const windowRuns = 500

// window sums, per type, the removals applied by the tenant's completed runs that started
// within the last days, and gives the base at the window's start: the type's count before the
// oldest of those runs that removed some (so an initial load inside the window is no base of
// 0). An approved run ends the walk: an operator accepted the state after it, so only later
// removals count.
func (im *Importer) window(ctx context.Context, tenant string, days int) ([record.NumTypes]safety.Earlier, error) {
	var out [record.NumTypes]safety.Earlier
	since := im.now().Add(-time.Duration(days) * 24 * time.Hour)
	done, err := im.store.ListRuns(ctx, store.ListRunsParams{Tenant: tenant, Status: []runs.Status{runs.Completed}, Limit: windowRuns})
	if err != nil {
		return out, err
	}
	for _, r := range done {
		if r.StartedAt.Before(since) {
			break
		}
		if r.Approval != nil || r.Undo != nil {
			break // an operator accepted the state after it
		}
		c := safety.CountsFrom(r.Counts)
		for _, t := range record.AllTypes {
			if c[t].Deletes > 0 {
				out[t].Deletes += c[t].Deletes
				out[t].Base = c[t].Base
			}
		}
	}
	return out, nil
}

// makePlan reads the file into the diff against the tenant's current state. It also says where
// the plan's removals come from (for the status mail), while it has the state, and returns the
// state (a hold's page rows name records from it). With tryEarly, an initial load's
// memberships (and persons, when the tenant has none) are written while the file is read,
// when the store can (store.EarlyWriter):
// the caller applies the plan with them, or aborts them.
func (im *Importer) makePlan(ctx context.Context, t *config.Tenant, path string, run *runs.Run, tryEarly bool) (_ *planned, _ []archive.GroupRemovals, _ *change.State, early store.EarlyInserts, err error) {
	// Too large is known from the size alone: fail before hashing or reading a byte of it.
	if max := int64(t.MaxFileSize); max > 0 && run.File.Size > max {
		return nil, nil, nil, nil, fileFault{fmt.Errorf("%s: file is larger than the size limit: %d bytes, limit %d (the tenant's max_file_size); nothing was read",
			run.File.Name, run.File.Size, max)}
	}
	im.status("loading the stored state")
	gcDone := importGC() // the stored state is held while the file is read (gc.go)
	defer gcDone()
	ss, err := im.loadState(ctx, t.ID)
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("load state: %w", err)
	}
	defer ss.close()
	st := ss.st
	if ss.none() && !st.HasPersons() {
		gcDone() // an initial load: no state to hold (gc.go)
	}
	if tryEarly && ss.none() && run.File.Size >= earlyMinSize {
		if ew, ok := im.store.(store.EarlyWriter); ok {
			if early, err = ew.EarlyInserts(ctx, t.ID, st.Version); err != nil {
				im.log.Warn("write the memberships while reading (the apply writes them instead)", "tenant", t.ID, "err", err)
				early, err = nil, nil
			}
		}
	}
	if early != nil && !st.HasPersons() {
		defer gcAt(EarlyGCPercent)() // it holds little while it reads (gc.go)
	}
	if e := early; e != nil {
		defer func() { // (a failing return has set early to nil)
			if err != nil {
				e.Abort()
			}
		}()
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if run.File.SHA256 == "" {
		// Hash what the reader reads, then whatever it left (a file that failed part-way):
		// one pass over the file, not two, hashed beside the reader (sumaside.go).
		sa := newSumAside(f, run.File.Size)
		r = sa
		defer func() {
			if sum, ok := sa.sum(); ok {
				run.File.SHA256 = sum
			}
		}()
	}
	if im.Progress != nil {
		r = &progressReader{r: r, total: run.File.Size, report: im.Progress}
	}

	// A re-import's diff keeps the file's memberships until it reads the stored ones at its
	// end (diff: the spilled mode), beyond its budget in a scratch file of its own.
	scratch := &scratchFile{}
	defer func() {
		if err != nil {
			scratch.remove()
		}
	}()
	opts := diff.Options{Courses: t.Courses, Scratch: scratch.create, SpillBudget: spillBudget}
	if early != nil {
		opts.Handover, opts.ListHanded = early.Membership, listHanded
		if !st.HasPersons() { // persons too, when the tenant has none (not even in the trash can)
			opts.HandoverPerson = early.Person
		}
	}
	d := diff.New(st, opts)
	rules := t.Placement(st.SchoolYear)
	h := &placing{Differ: d, keys: rules.Keys(st.HasGroup), stored: ss.rest}
	// The records are built and hashed, and the diff runs, beside the reader's scanning
	// (ims.Options.Aside); every record has reached the diff when Read returns.
	res, err := ims.Read(ctx, r, run.File.Name, ims.Options{
		Lenient:  t.Lenient,
		Mode:     ims.Mode(t.Mode),
		Mappings: t.ReaderMappings(),
		MaxSize:  int64(t.MaxFileSize),
		Encoding: t.Encoding,
		// Limits against hostile input.
		MaxAttributes: t.MaxAttributes,
		MaxRecordSize: int64(t.MaxRecordSize),
		MaxTextSize:   int64(t.MaxTextSize),
		// The diff finds duplicate keys with the state it holds anyway.
		SkipDuplicateCheck: true,
		Aside:              true,
	}, h)
	if err == nil {
		err = ss.rest() // the end of the file needs it (a file without memberships, too)
	}
	if ss.err != nil && errors.Is(err, ss.err) {
		// The load failed, not the file: the reader's wrapping names the record it was at.
		err = fmt.Errorf("load state: %w", ss.err)
	}
	if res != nil {
		run.Warnings = append(run.Warnings, res.Warnings...)
	}
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if t.DataSource != "" && strings.TrimSpace(res.Properties.DataSource) != t.DataSource {
		return nil, nil, nil, nil, fileFault{fmt.Errorf("properties/datasource is %q, but tenant %s expects %q: is this another school owner's file?",
			res.Properties.DataSource, t.ID, t.DataSource)}
	}
	run.Mode = string(res.Mode)
	if res.Mode == ims.ModeEvent && res.Counts == [record.NumTypes]int{} && len(res.Skipped) == 0 {
		run.Reason = EmptyDelta
	}
	fin := diff.Finish{Mode: diff.Mode(res.Mode), EmptyMemberships: res.EmptyMemberships}
	for _, s := range res.Skipped {
		fin.Skipped = append(fin.Skipped, diff.Skipped{Type: s.Type, Key: s.Key, Group: s.Group, Member: s.Member})
	}
	im.status("comparing with the stored state")
	rules.StoredParents = storedParents(st)
	rules.Stored = storedNodes(st, res.Mode == ims.ModeEvent)
	placed, err := h.place(rules)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	h.finish(&fin)
	if early != nil {
		defer importGC()() // the plan is made, then written mostly by the server (gc.go)
	}
	plan, removed, warnings, err := d.FinishApart(fin)
	if errors.Is(err, diff.ErrHandover) {
		return nil, nil, nil, nil, fmt.Errorf("%w: %w", errPlanAgain, err)
	}
	if errors.Is(err, diff.ErrStored) {
		return nil, nil, nil, nil, fmt.Errorf("load state: %w", err)
	}
	if err != nil {
		return nil, nil, nil, nil, err
	}
	// The scratch file holds the removals apart, when they are many (planned.close).
	p := &planned{plan: plan, removed: removed, scratch: scratch}
	if removed.Len() == 0 || early != nil || !keepRemovalsApart {
		// (An initial load removes nothing.)
		if _, err := p.whole(); err != nil {
			return nil, nil, nil, nil, err
		}
	}
	if early != nil {
		// The plan counts every person and membership the diff handed over; were they all
		// written?
		n, err := early.Done()
		if err == nil {
			if want := len(plan.Memberships) + plan.Early[record.Memberships]; n[record.Memberships] != want {
				err = fmt.Errorf("%d memberships written, the plan has %d", n[record.Memberships], want)
			} else if want := len(plan.Persons) + plan.Early[record.Persons]; opts.HandoverPerson != nil && n[record.Persons] != want {
				err = fmt.Errorf("%d persons written, the plan has %d", n[record.Persons], want)
			}
		}
		if err != nil {
			return nil, nil, nil, nil, fmt.Errorf("%w: the memberships written while reading: %w", errPlanAgain, err)
		}
	}
	plan.Attention = append(plan.Attention, placed...)
	run.Warnings = append(run.Warnings, warnings...)
	// A few bad records are a normal night; a file of mostly bad records is a broken export,
	// and applying the rest of it would act on a fraction of the truth.
	skipped, records := d.Skipped(), res.Counts
	for _, s := range res.Skipped {
		skipped[s.Type]++
		records[s.Type]++
	}
	if trips := safety.CheckSkipped(skipped, records, t.Safety.MaxSkipped); len(trips) > 0 {
		var parts []string
		for _, tr := range trips {
			parts = append(parts, tr.String())
		}
		return nil, nil, nil, nil, fmt.Errorf("%s: %s; nothing was applied. The warnings name each skipped record; fix the export, or raise safety.max_skipped",
			run.File.Name, strings.Join(parts, "; "))
	}
	if x := st.StoredPersons; x != nil {
		// The stored names of the persons the plan names, for the reports (the mail's CSV, a
		// hold's pages), read while the load's snapshot is open.
		keys, err := p.personKeys()
		if err == nil {
			err = x.ReadNames(keys)
		}
		if err != nil {
			return nil, nil, nil, nil, fmt.Errorf("load state: stored persons: %w", err)
		}
	}
	var failed error
	plan.Names = change.NamesForApart(plan, p.each(&failed), p.trashed, st, mailer.MaxCSVRows) // for the status mail's CSV
	if failed != nil {
		return nil, nil, nil, nil, failed
	}
	removals := archive.RemovalsOf(plan, p.each(&failed), p.trashedApart, st)
	if failed != nil {
		return nil, nil, nil, nil, failed
	}
	im.addOld(ctx, t.ID, plan)
	return p, removals, st, early, nil
}

// apply commits a passing plan, with the run record, in one transaction.
// early, when not nil, are the plan's memberships written while the file was read: used when
// they match the plan, else rolled back and written by the apply.
func (im *Importer) apply(ctx context.Context, run *runs.Run, plan *change.Plan, early store.EarlyInserts) error {
	return im.commit(ctx, run, store.ApplyParams{Plan: plan, Early: early}, len(plan.Persons), len(plan.Groups), len(plan.Memberships), plan.Early)
}

// applyPieces is apply of a plan with its membership removals apart (planned.inPieces): the
// store reads it in pieces, several times, within the apply's one transaction (no early
// inserts: a plan that removes has none).
func (im *Importer) applyPieces(ctx context.Context, run *runs.Run, p *planned) error {
	removalsAppliedApart.Add(int64(p.removed.Len()))
	personsAppliedApart.Add(int64(p.removed.Persons()))
	head, pieces := p.pieces()
	return im.commit(ctx, run, store.ApplyParams{Plan: head, Pieces: pieces},
		len(p.plan.Persons)+p.removed.Persons(), len(p.plan.Groups), len(p.plan.Memberships)+p.removed.Len(), change.PerType{})
}

// commit applies ap (the run, its time, progress and undo filled in here) and records the run
// completed; persons, groups and memberships are the plan's listed changes, early those
// written while the file was read, for the log.
func (im *Importer) commit(ctx context.Context, run *runs.Run, ap store.ApplyParams, persons, groups, memberships int, early change.PerType) error {
	im.log.Info("applying plan", "tenant", run.Tenant, "run", run.ID, "persons", persons+early[record.Persons], "groups", groups,
		"memberships", memberships+early[record.Memberships],
		"persons_written_while_reading", early[record.Persons], "memberships_written_while_reading", early[record.Memberships])
	run.Status = runs.Completed
	im.finish(run)
	im.status("applying the changes in one transaction")
	ap.Run, ap.Now, ap.Progress, ap.NoUndo = run, im.now().UTC(), im.Applying, im.noUndo(run.Tenant)
	if err := im.store.Apply(ctx, ap); err != nil {
		return err
	}
	// The record saved inside the transaction was stamped before it; the duration the mail
	// and `runs` show includes the apply (report saves the record again).
	im.finish(run)
	im.applied(run)
	im.refreshStats(ctx, run)
	return nil
}

// removalsAppliedApart and personsAppliedApart count the membership removals and the persons
// trashed applied in pieces from apart (tests).
var removalsAppliedApart, personsAppliedApart atomic.Int64

// hold stores the plan with the run, and its changes as rows for the console's page; nothing
// changes until an operator approves it.
func (im *Importer) hold(ctx context.Context, run *runs.Run, p *planned, index heldIndexFunc) error {
	removalsHeldApart.Add(int64(p.removed.Len()))
	personsHeldApart.Add(int64(p.removed.Persons()))
	return im.holdOf(ctx, run, p.plan, p.personsApart(), p.memberships(), index)
}

// keepRemovalsApart keeps a plan's membership removals apart until it is judged (planned);
// tests turn it off to list them at once, as before.
var keepRemovalsApart = true

// removalsHeldApart and personsHeldApart count the membership removals and the persons
// trashed held apart from their plans' lists (tests).
var removalsHeldApart, personsHeldApart atomic.Int64

// holdOf is hold of a plan whose membership changes, when memberships is not nil, are
// memberships' rather than its own list (a rollover's, or an import's with its removals apart),
// and whose person changes, when persons is not nil, are its list then persons'.
func (im *Importer) holdOf(ctx context.Context, run *runs.Run, plan *change.Plan, persons personsApart, memberships membershipSource, index heldIndexFunc) error {
	data, err := im.encodeHeld(run, plan, persons, memberships)
	if err != nil {
		return err
	}
	return im.store.HoldRun(ctx, run, data, index(plan, persons, memberships))
}

// encodeHeld gives a plan to hold (encoded as the store writes it, heldPlanOf), marks the run
// held, and stamps it. The store sets the run's plan SHA-256 as it writes the plan.
func (im *Importer) encodeHeld(run *runs.Run, plan *change.Plan, persons personsApart, memberships membershipSource) (store.HeldPlan, error) {
	run.PlanSHA256 = ""
	run.Status = runs.Held
	im.finish(run)
	held := *run.FinishedAt
	run.HeldAt = &held // the import ends here; an approval's wait starts
	return heldPlanOf(plan, persons, memberships), nil
}

// holdRemovals applies inserts and updates now and holds deletes and archivals for approval,
// in one transaction: a crash leaves the old state and no hold, or both (never the inserts
// applied with the removals neither held nor mailed). The run's counts stay those of the
// whole plan; Reason says what was applied.
func (im *Importer) holdRemovals(ctx context.Context, run *runs.Run, p *planned, index heldIndexFunc) error {
	now, held := p.plan.Split()
	// The removals kept apart are all held (a removal's op is one), after the listed ones.
	p.removed.Count(&held.Counts)
	heldP := &planned{plan: held, removed: p.removed}
	if !now.Empty() {
		removalsHeldApart.Add(int64(p.removed.Len())) // (else hold counts them)
		personsHeldApart.Add(int64(p.removed.Persons()))
	}
	if held.Empty() && p.removed.Len() == 0 && p.removed.Persons() == 0 {
		// Only inserts or updates tripped the limit, yet hold-removals applies those: nothing waits.
		run.Reason = "safety limits crossed, but on_trip is hold-removals and there were no removals to hold"
		return im.apply(ctx, run, now, nil)
	}
	heldMemberships := len(held.Memberships) + p.removed.Len()
	run.Reason = fmt.Sprintf("on_trip hold-removals: inserts and updates applied; %d person, %d group and %d membership removals wait for approval",
		len(held.Persons)+p.removed.Persons(), len(held.Groups), heldMemberships)
	if now.Empty() {
		return im.hold(ctx, run, heldP, index)
	}
	// The held part is approved against the state this apply leaves: Apply moves the version
	// on by exactly one.
	held.BaseVersion = now.BaseVersion + 1
	data, err := im.encodeHeld(run, held, heldP.personsApart(), heldP.memberships())
	if err != nil {
		return err
	}
	im.log.Info("applying plan", "tenant", run.Tenant, "run", run.ID, "persons", len(now.Persons), "groups", len(now.Groups),
		"memberships", len(now.Memberships), "held_removals", len(held.Persons)+p.removed.Persons()+len(held.Groups)+heldMemberships)
	im.status("applying the inserts and updates in one transaction")
	return im.store.Apply(ctx, store.ApplyParams{Plan: now, Run: run, Now: im.now().UTC(), Hold: data, HoldIndex: index(held, heldP.personsApart(), heldP.memberships()),
		Progress: im.Applying, NoUndo: im.noUndo(run.Tenant)})
}

// supersede closes older held runs of the tenant: a newer run's plan replaces theirs. Only a
// run that made a plan and applied or held it does; a failed run (a broken file) leaves an
// older hold approvable.
func (im *Importer) supersede(ctx context.Context, t *config.Tenant, run *runs.Run) {
	if run.Status != runs.Completed && run.Status != runs.Held {
		return
	}
	old, err := im.store.SupersedeHeld(ctx, t.ID, run.ID, fmt.Sprintf("superseded by run %d", run.ID))
	if err != nil {
		im.log.Error("supersede held runs", "tenant", t.ID, "err", err)
		return
	}
	for _, r := range old {
		im.log.Info("held run superseded", "tenant", t.ID, "run", r.ID, "by", run.ID)
		run.Attention = append(run.Attention, change.Notice{Kind: "superseded-hold",
			Message: fmt.Sprintf("held run %d can no longer be approved: this run replaces it", r.ID)})
	}
	if len(old) > 0 {
		if err := im.store.SaveRun(ctx, run); err != nil {
			im.log.Error("record run", "tenant", t.ID, "run", run.ID, "err", err)
		}
	}
}

// fail records a failed run: nothing was changed, the error says why and where.
func (im *Importer) fail(ctx context.Context, t *config.Tenant, run *runs.Run, err error) (*runs.Run, error) {
	run.Status = runs.Failed
	run.Error = runError(run.File.Name, err)
	run.Counts = change.Counts{}
	im.finish(run)
	im.log.Error("import failed", "tenant", t.ID, "run", run.ID, "err", err)
	if serr := im.store.SaveRun(context.WithoutCancel(ctx), run); serr != nil {
		// The store is gone (PostgreSQL stopped mid-run, say): still mail the real cause, and
		// remember it here for the run that will find this one still "running".
		im.log.Error("the store could not record the failure", "tenant", t.ID, "run", run.ID, "err", serr)
		run.Error.Message += fmt.Sprintf("; and the store could not record this failure (%v): `imsfeed runs` may show run %d as running until the next run closes it", serr, run.ID)
		im.report(context.WithoutCancel(ctx), t, run, nil)
		im.remember(run, serr)
		return run, nil
	}
	im.report(context.WithoutCancel(ctx), t, run, nil)
	return run, nil
}

// Interrupted is the message of a run stopped by a signal. The apply is one transaction, and a
// run that committed it does not fail afterwards, so nothing was applied.
const Interrupted = "interrupted by the operator; nothing was applied"

// earlyMinSize is the smallest file whose initial load writes its memberships while it is
// read (store.EarlyWriter). The early copy's bookkeeping (temporary tables, a Bloom filter, the
// index assembled in the server) made a 3,000-person tenant's initial load 0.54 → 0.61 s on
// PostgreSQL and a night of 1,000 such tenants 10-16% slower, for memory such a load never
// lacked (issue 18). On SQLite it would also hold the one writer through the reading of many
// small files.
var earlyMinSize int64 = 16 << 20

// spillBudget is how many bytes of the file's memberships a re-import's diff keeps in memory
// before it writes them to its scratch file (0: the diff's default, 16 MiB; tests lower it).
var spillBudget = 0

// scratchFile is the diff's scratch file: made at its first need, in os.TempDir(), and removed
// from the folder at once (the open file lives on until closed, and nothing is left behind
// should the process die); remove closes it (and removes it, where the system could not
// before).
type scratchFile struct {
	f    *os.File
	gone bool
}

// scratchMade counts the scratch files made, and scratchMadeHook, when set, is told of each
// (tests).
var (
	scratchMade     atomic.Int64
	scratchMadeHook func()
)

func (s *scratchFile) create() (diff.Scratch, error) {
	f, err := os.CreateTemp("", "imsfeed-memberships-*")
	if err != nil {
		return nil, err
	}
	scratchMade.Add(1)
	if scratchMadeHook != nil {
		scratchMadeHook()
	}
	s.f, s.gone = f, os.Remove(f.Name()) == nil
	return f, nil
}

func (s *scratchFile) remove() {
	if s.f == nil {
		return
	}
	s.f.Close()
	if !s.gone {
		os.Remove(s.f.Name())
	}
	s.f = nil
}

// listHanded is how many of the memberships written while reading a plan still lists: the
// status mail's CSV shows no more changes (tests lower it).
var listHanded = mailer.MaxCSVRows

// errPlanAgain is makePlan's answer when the records it wrote while reading the file are
// not exactly the plan's (a membership naming an unknown person, a key listed twice, a lost
// connection): they are rolled back, and the caller makes the plan again the ordinary way.
var errPlanAgain = errors.New("plan again")

// fileFault marks an error as due to the file's content (too large, another school owner's).
type fileFault struct{ error }

func (e fileFault) Unwrap() error { return e.error }

func runError(file string, err error) *runs.Error {
	if errors.Is(err, context.Canceled) {
		return &runs.Error{Message: Interrupted, Cause: runs.CauseInterrupted}
	}
	var ie *ims.Error
	if errors.As(err, &ie) {
		e := &runs.Error{Line: ie.Line, Column: ie.Column, Key: ie.Key, Message: ie.Error(), Cause: runs.CauseFile}
		if strings.HasPrefix(ie.Msg, "read error:") {
			e.Cause = "" // the disk under the spool, not the file's content
		}
		return e
	}
	var de *diff.DuplicateError
	if errors.As(err, &de) {
		return &runs.Error{Line: de.Pos.Line, Column: de.Pos.Column, Key: de.Key,
			Message: fmt.Sprintf("%s:%d:%d: record %s: %s", file, de.Pos.Line, de.Pos.Column, de.Key, de.Problem()), Cause: runs.CauseFile}
	}
	var ce *hierarchy.ClashError
	if errors.As(err, &ce) {
		return &runs.Error{Line: ce.Pos.Line, Column: ce.Pos.Column, Key: ce.Key,
			Message: fmt.Sprintf("%s:%d:%d: record %s: %s", file, ce.Pos.Line, ce.Pos.Column, ce.Key, ce.Problem()), Cause: runs.CauseFile}
	}
	var ff fileFault
	if errors.As(err, &ff) {
		return &runs.Error{Message: err.Error(), Cause: runs.CauseFile}
	}
	if errors.Is(err, store.ErrStateChanged) {
		return &runs.Error{Message: err.Error() + "; run the import again"}
	}
	return &runs.Error{Message: err.Error()}
}

func tripSummary(v safety.Verdict) string {
	var parts []string
	for _, t := range v.Tripped {
		parts = append(parts, t.String())
	}
	return strings.Join(parts, "; ")
}

func countLine(c change.TypeCounts) string {
	return fmt.Sprintf("+%d ~%d -%d (restored %d, archived %d) %d→%d", c.Inserted, c.Updated, c.Deleted, c.Restored, c.Archived, c.Before, c.After)
}

type progressReader struct {
	r      io.Reader
	read   int64
	total  int64
	report func(read, total int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.read += int64(n)
	p.report(p.read, p.total)
	return n, err
}
