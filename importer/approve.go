package importer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/imsfeed/imsfeed/archive"
	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/mailer"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/store"
)

// Decision is an operator's approve or reject of a held run.
type Decision struct {
	RunID  int64
	By     string
	Reason string
}

func (d Decision) validate(verb string) error {
	if strings.TrimSpace(d.By) == "" {
		return fmt.Errorf("%s run %d: --by NAME is required (who decided)", verb, d.RunID)
	}
	if strings.TrimSpace(d.Reason) == "" {
		return fmt.Errorf("%s run %d: --reason TEXT is required (why)", verb, d.RunID)
	}
	return nil
}

// heldRun loads a run and refuses anything but a held one, saying what it is instead.
func (im *Importer) heldRun(ctx context.Context, verb string, id int64) (*runs.Run, error) {
	run, err := im.store.Run(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%s run %d: %s", verb, id, im.noSuchRun())
	}
	if err != nil {
		return nil, fmt.Errorf("%s run %d: %w", verb, id, err)
	}
	if run.Status != runs.Held {
		// In the tenant's zone: the console shows this beside the page's other times.
		var loc *time.Location
		if t, err := im.cfg.Tenant(run.Tenant); err == nil {
			loc = t.Location()
		}
		why := fmt.Sprintf("it is %s", run.Status)
		switch {
		case run.Status == runs.Superseded && run.Reason != "":
			why = "it was " + run.Reason + "; approve the newer run instead"
		case run.Approval != nil:
			why = fmt.Sprintf("it was already approved by %s at %s", run.Approval.By, runs.TimeText(run.Approval.At, loc))
		case run.Rejection != nil:
			why = fmt.Sprintf("it was rejected by %s at %s", run.Rejection.By, runs.TimeText(run.Rejection.At, loc))
		}
		return nil, fmt.Errorf("%s run %d: %w: %s", verb, id, ErrNotHeld, why)
	}
	return run, nil
}

// Approve applies exactly the plan a held run stored, in one transaction, if the tenant's state
// has not changed since the plan was made. Otherwise it refuses, says why, and changes nothing.
func (im *Importer) Approve(ctx context.Context, d Decision) (*runs.Run, error) {
	if err := d.validate("approve"); err != nil {
		return nil, err
	}
	run, err := im.heldRun(ctx, "approve", d.RunID)
	if err != nil {
		return nil, err
	}
	t, err := im.cfg.Tenant(run.Tenant)
	if err != nil {
		return nil, fmt.Errorf("approve run %d: %w", d.RunID, err)
	}
	release, err := im.store.LockTenant(ctx, run.Tenant, im.cfg.LockWait)
	if err != nil {
		return nil, fmt.Errorf("approve run %d: %w", d.RunID, err)
	}
	defer release()
	// Re-read under the lock: another operator may have decided meanwhile.
	if run, err = im.heldRun(ctx, "approve", d.RunID); err != nil {
		return nil, err
	}
	// A held plan is read and applied in pieces (store.ApplyParams.Pieces), never whole in
	// memory: plan is then its head as far as the first change (tenant, mode, base version),
	// and report, what the status mail lists, is filled by the store's first read of the
	// pieces (which checks the plan's SHA-256 before anything is written). A rollover's is too
	// (its membership changes are nearly half of a large tenant's memberships); when nights
	// changed the state since it was held, it is planned again from the state now, as the hold
	// planned it, and that plan's changes are given in pieces read from the store.
	var plan, report *change.Plan
	var pieces func(func(*change.Plan) error) error
	var removals []archive.GroupRemovals
	if plan, err = im.heldHead(ctx, run); err != nil {
		return nil, fmt.Errorf("approve run %d: %w", d.RunID, err)
	}
	var replan *rolloverHold
	if run.Mode == ModeRollover {
		// What a replan holds is what a rollover's hold holds (Rollover): mostly pointer-free
		// and live throughout, so it collects as the hold does. An approval of the held plan in
		// pieces does not: what it holds is mostly pointers (its mail's changes, a piece, a part
		// of its images and index edits), and at 25 % its collector took 10 s more of CPU than
		// at the default (the 1 GB feed's drop-50 hold on PostgreSQL, 72 s against 53 s).
		gcDone := importGC()
		if plan, replan, err = im.rolloverToApply(ctx, t, run, plan); err != nil {
			gcDone()
			return nil, fmt.Errorf("approve run %d: %w", d.RunID, err)
		}
		if replan == nil {
			gcDone()
		} else {
			defer gcDone()
		}
	}
	var live *liveSince
	if replan == nil {
		if live, err = im.liveSinceHold(ctx, run, plan); err != nil {
			return nil, fmt.Errorf("approve run %d: %w", d.RunID, err)
		}
	}
	if replan != nil {
		report, pieces = replan.report, replan.pieces()
	} else {
		report = &change.Plan{}
		head := *plan // as stored: rebase moves plan's version
		pieces = im.heldPieces(ctx, run, &head, report)
		if live != nil {
			pieces = live.rebase(run, plan, pieces)
		}
	}
	if run.HeldAt == nil && run.FinishedAt != nil {
		held := *run.FinishedAt // a run held before held_at was recorded ended at its hold
		run.HeldAt = &held
	}
	removals = im.storedRemovals(ctx, run)
	run.Status = runs.Completed
	// A hold-removals run's reason said its removals wait: now they are applied.
	run.Reason = strings.Replace(run.Reason, " removals wait for approval", " removals were applied at approval", 1)
	run.Approval = &runs.Decision{By: d.By, At: im.now().UTC(), Reason: d.Reason}
	im.finish(run)
	im.status("applying the approved changes in one transaction")
	err = im.store.Apply(ctx, store.ApplyParams{Plan: plan, Pieces: pieces, Run: run, Now: im.now().UTC(), Progress: im.Applying, NoUndo: t.UndoDays == 0})
	if errors.Is(err, store.ErrStateChanged) {
		st, _ := im.store.Status(ctx, run.Tenant)
		return nil, fmt.Errorf("approve run %d: %w", d.RunID, stateChanged(plan.BaseVersion, st.StateVersion, ""))
	}
	if err != nil {
		return nil, fmt.Errorf("approve run %d: %w", d.RunID, err)
	}
	im.finish(run)
	if live != nil {
		if after, err := im.store.Status(ctx, run.Tenant); err != nil {
			im.log.Warn("counts after an approval on top of live requests", "tenant", run.Tenant, "run", run.ID, "err", err)
		} else {
			live.recount(run, after)
			if err := im.store.SaveRun(ctx, run); err != nil {
				im.log.Warn("counts after an approval on top of live requests", "tenant", run.Tenant, "run", run.ID, "err", err)
			}
		}
	}
	im.applied(run)
	im.log.Info("held run approved and applied", "tenant", run.Tenant, "run", run.ID, "by", d.By)
	im.refreshStats(ctx, run)
	im.reportRemovals(ctx, t, run, report, removals)
	return run, nil
}

// Reject closes a held run; nothing is applied.
func (im *Importer) Reject(ctx context.Context, d Decision) (*runs.Run, error) {
	if err := d.validate("reject"); err != nil {
		return nil, err
	}
	run, err := im.heldRun(ctx, "reject", d.RunID)
	if err != nil {
		return nil, err
	}
	t, err := im.cfg.Tenant(run.Tenant)
	if err != nil {
		return nil, fmt.Errorf("reject run %d: %w", d.RunID, err)
	}
	release, err := im.store.LockTenant(ctx, run.Tenant, im.cfg.LockWait)
	if err != nil {
		return nil, fmt.Errorf("reject run %d: %w", d.RunID, err)
	}
	defer release()
	if run, err = im.heldRun(ctx, "reject", d.RunID); err != nil {
		return nil, err
	}
	// What the mail says, read before the decision drops the hold's page rows (its removals);
	// a plan that cannot be read is rejected all the same.
	var removals []archive.GroupRemovals
	report, err := im.heldReport(ctx, run)
	if err == nil {
		removals = im.storedRemovals(ctx, run)
	}
	run.Status = runs.Rejected
	run.Rejection = &runs.Decision{By: d.By, At: im.now().UTC(), Reason: d.Reason}
	if err := im.store.SaveRun(ctx, run); err != nil {
		return nil, fmt.Errorf("reject run %d: %w", d.RunID, err)
	}
	im.log.Info("held run rejected", "tenant", run.Tenant, "run", run.ID, "by", d.By)
	im.reportRemovals(ctx, t, run, report, removals)
	return run, nil
}

// PlanBytes returns the exact bytes of a held run's plan, as approval would apply them.
func (im *Importer) PlanBytes(ctx context.Context, id int64) ([]byte, error) {
	r, err := im.PlanReader(ctx, id)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// PlanReader reads the exact bytes of a held run's plan, a stored part at a time.
func (im *Importer) PlanReader(ctx context.Context, id int64) (io.ReadCloser, error) {
	r, err := im.store.Plan(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("run %d has no stored plan (only held runs keep one)", id)
	}
	return r, err
}

// ReadPlan reads a held run's plan for a reader (`show RUN --plan`) without holding it whole:
// a first read gives head the plan without its changes (its counts and attention follow the
// lists in the stored document), a second gives each the changes in pieces, in stored order
// (persons, groups, memberships, relations). Each read checks the bytes against the run's
// plan SHA-256, as approval does, so what is shown is what approval would apply.
func (im *Importer) ReadPlan(ctx context.Context, id int64, head, each func(*change.Plan) error) error {
	run, err := im.store.Run(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("run %d: %s", id, im.noSuchRun())
	}
	if err != nil {
		return fmt.Errorf("run %d: %w", id, err)
	}
	h, err := im.readHeld(ctx, run, func(*change.Plan) error { return nil })
	if err != nil {
		return err
	}
	if err := head(h); err != nil {
		return err
	}
	_, err = im.readHeld(ctx, run, each)
	return err
}

// storedPlan loads a held run's plan whole (readHeld).
func (im *Importer) storedPlan(ctx context.Context, run *runs.Run) (*change.Plan, error) {
	return im.readHeld(ctx, run, nil)
}

// heldPiece is how many changes of a held plan approval decodes at a time.
var heldPiece = 8192

// heldReport reads a held run's plan through once, checking it is byte for byte the one the run
// recorded (as storedPlan), and returns what its status mail lists: its head (the plan
// without its changes) with reportLists' lists.
func (im *Importer) heldReport(ctx context.Context, run *runs.Run) (*change.Plan, error) {
	var lists reportLists
	head, err := im.readHeld(ctx, run, func(p *change.Plan) error {
		lists.add(p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	report := &change.Plan{}
	lists.fill(report, head)
	return report, nil
}

// reportLists gathers what a held plan's status mail lists as its pieces go by: the first
// mailer.MaxCSVRows changes, the others counted per type in Early (as the mailer counts them,
// and as a plan whose inserts were written early does).
type reportLists struct {
	kept int
	plan change.Plan
}

func (l *reportLists) add(p *change.Plan) {
	room := max(0, mailer.MaxCSVRows-l.kept)
	l.kept += min(room, p.Changes())
	r := &l.plan
	r.Early[changedType(p)] += max(0, p.Changes()-room)
	r.Persons = append(r.Persons, p.Persons[:min(room, len(p.Persons))]...)
	r.Groups = append(r.Groups, p.Groups[:min(room, len(p.Groups))]...)
	r.Memberships = append(r.Memberships, p.Memberships[:min(room, len(p.Memberships))]...)
	r.Relations = append(r.Relations, p.Relations[:min(room, len(p.Relations))]...)
}

// fill makes report the plan's head with the lists gathered.
func (l *reportLists) fill(report, head *change.Plan) {
	*report = *head
	report.Persons, report.Groups, report.Memberships, report.Relations, report.Early = l.plan.Persons, l.plan.Groups, l.plan.Memberships, l.plan.Relations, l.plan.Early
}

// errHeadRead ends heldHead's read at the plan's first change.
var errHeadRead = errors.New("the head is read")

// heldHead reads a held run's plan as far as its first change: what comes before the lists of
// changes (tenant, mode, base version), enough to start the apply whose first read of the
// pieces checks the whole plan. A plan that does not decode that far is refused as readHeld
// refuses it; a plan without changes is read and checked through.
func (im *Importer) heldHead(ctx context.Context, run *runs.Run) (*change.Plan, error) {
	var head *change.Plan
	whole, err := im.readHeld(ctx, run, func(p *change.Plan) error {
		head = &change.Plan{Tenant: p.Tenant, Mode: p.Mode, BaseVersion: p.BaseVersion}
		return errHeadRead
	})
	if errors.Is(err, errHeadRead) {
		return head, nil
	}
	return whole, err
}

// changedType is the type of the changes a piece of a plan lists (it lists one type).
func changedType(p *change.Plan) record.Type {
	switch {
	case len(p.Persons) > 0:
		return record.Persons
	case len(p.Groups) > 0:
		return record.Groups
	case len(p.Relations) > 0:
		return record.Relations
	}
	return record.Memberships
}

// heldPieces gives a held run's plan in pieces of heldPiece changes, read and checked afresh
// at each call (store.ApplyParams.Pieces): a call that reads other bytes than the run recorded
// fails, after its pieces, and the apply with it. The first call that reads the plan through
// fills report (as heldReport does) and checks that the plan's head is head, the one the
// apply was given (a plan whose rest of the head, read at its end, would have the apply do
// more, a school year, is refused: a rollover's plan is applied whole).
func (im *Importer) heldPieces(ctx context.Context, run *runs.Run, head, report *change.Plan) func(func(*change.Plan) error) error {
	reported := false
	return func(each func(*change.Plan) error) error {
		if reported {
			_, err := im.readHeldAhead(ctx, run, each)
			return err
		}
		var lists reportLists
		whole, err := im.readHeldAhead(ctx, run, func(p *change.Plan) error {
			lists.add(p)
			return each(p)
		})
		if err != nil {
			return err
		}
		if whole.Tenant != head.Tenant || whole.Mode != head.Mode || whole.BaseVersion != head.BaseVersion || whole.SchoolYear != head.SchoolYear {
			return fmt.Errorf("stored plan of tenant %q at version %d (school year %q) read as tenant %q at version %d: refusing to apply it, nothing was changed",
				whole.Tenant, whole.BaseVersion, whole.SchoolYear, head.Tenant, head.BaseVersion)
		}
		lists.fill(report, whole)
		reported = true
		return nil
	}
}

// errReadStopped ends readHeldAhead's reading when its caller's function failed.
var errReadStopped = errors.New("the reading was stopped")

// readHeldAhead is readHeld with each: each is called on the caller's goroutine while the next
// piece is decoded on another (at most one piece waits), so that decoding the plan overlaps
// the store's work on the last piece. each's first error ends the reading and is returned.
func (im *Importer) readHeldAhead(ctx context.Context, run *runs.Run, each func(*change.Plan) error) (*change.Plan, error) {
	pieces := make(chan *change.Plan, 1)
	stop := make(chan struct{})
	var head *change.Plan
	var readErr error
	go func() {
		defer close(pieces)
		head, readErr = im.readHeld(ctx, run, func(p *change.Plan) error {
			select {
			case pieces <- p:
				return nil
			case <-stop:
				return errReadStopped
			}
		})
	}()
	var eachErr error
	for p := range pieces { // until the reading ends: its results are set then
		if eachErr == nil {
			if eachErr = each(p); eachErr != nil {
				close(stop)
			}
		}
	}
	if eachErr != nil {
		return nil, eachErr
	}
	return head, readErr
}

// readHeld decodes a held run's plan and checks it is byte for byte the one the run recorded:
// the SHA-256 of the bytes read, as they are decoded a change at a time, against the run's. A
// plan that does not decode is refused for its SHA-256 when that differs too (it was damaged,
// not made wrong). With each, the changes are given to it in pieces of heldPiece and the plan
// returned is the head (without them); without, the plan returned is whole.
func (im *Importer) readHeld(ctx context.Context, run *runs.Run, each func(*change.Plan) error) (*change.Plan, error) {
	r, err := im.PlanReader(ctx, run.ID)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	h := sha256.New()
	tee := io.TeeReader(r, h)
	var eachErr error
	var give func(*change.Plan) error
	if each != nil {
		give = func(p *change.Plan) error {
			eachErr = each(p)
			return eachErr
		}
	}
	head, decodeErr := decodePlanIn(tee, heldPiece, give)
	if eachErr != nil {
		return nil, eachErr
	}
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return nil, fmt.Errorf("read stored plan: %w; refusing to apply it, nothing was changed", err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != run.PlanSHA256 {
		return nil, fmt.Errorf("stored plan's SHA-256 %s differs from the run's %s: it was changed or damaged since the hold; refusing to apply it, nothing was changed", got, run.PlanSHA256)
	}
	if decodeErr != nil {
		return nil, fmt.Errorf("decode stored plan: %w; refusing to apply it, nothing was changed", decodeErr)
	}
	return head, nil
}

// storedRemovals is heldRemovals as the hold made it (its page's rows keep it, store.HeldIndex),
// read instead of the state and the whole plan; heldRemovals of the whole plan for a hold made
// before holds kept rows.
func (im *Importer) storedRemovals(ctx context.Context, run *runs.Run) []archive.GroupRemovals {
	if run.Counts.Memberships.Deleted == 0 { // the plan's counts, recorded at the hold
		return nil
	}
	page, err := im.store.HeldChanges(ctx, run.ID, store.HeldQuery{AllTypes: true, Limit: 1})
	if err == nil {
		return page.Removals
	}
	plan, err := im.storedPlan(ctx, run)
	if err != nil {
		return nil
	}
	return im.heldRemovals(ctx, run, plan)
}

// heldRemovals is where a held plan's removals come from (archive.Removals, as the held mail
// and the console show them), so that the approve and reject mails say it again. It needs the
// state the plan was made from: nil when the plan removes nobody from a group, or the state
// moved on or could not be read (the mail then goes without it).
func (im *Importer) heldRemovals(ctx context.Context, run *runs.Run, plan *change.Plan) []archive.GroupRemovals {
	if plan == nil || !slices.ContainsFunc(plan.Memberships, func(m change.Membership) bool { return m.Op == change.Delete }) {
		return nil
	}
	st, err := im.store.LoadState(ctx, run.Tenant)
	if err != nil {
		im.log.Warn("the mail goes without where the removals come from: state not read", "tenant", run.Tenant, "run", run.ID, "err", err)
		return nil
	}
	if st.Version != plan.BaseVersion {
		return nil
	}
	return archive.Removals(plan, st)
}

// noSuchRun says which store has no such run: an approve typed where another config (or the
// embedded default) is found looks in another store, and the mail's command names its config.
func (im *Importer) noSuchRun() string {
	return fmt.Sprintf("no such run in the store %s (see `imsfeed runs`; is this the config the run's mail names?)", config.RedactURL(im.cfg.Store))
}
