package importer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/safety"
	"github.com/imsfeed/imsfeed/store"
)

// UndoRequest is an operator's undo of a run (`imsfeed undo`, the console's button).
type UndoRequest struct {
	RunID  int64
	By     string
	Reason string
	// Cascade undoes the runs applied after RunID first, newest first, in the same transaction.
	Cascade bool
}

// ErrNotUndoable: the run cannot be undone (the error says why; nothing was changed).
var ErrNotUndoable = errors.New("run cannot be undone")

// Undo puts the tenant back exactly as it was before the run applied, from the before-images
// the run kept (the file is not read again), in one transaction, under the tenant lock. Only
// the tenant's latest applied change can be undone, unless Cascade undoes the later ones too.
// The undo is itself a run (mode undo, "undo of run N"), held by nothing, mailed like any,
// and can itself be undone. It returns the undo's run.
func (im *Importer) Undo(ctx context.Context, u UndoRequest) (*runs.Run, error) {
	d := Decision{RunID: u.RunID, By: u.By, Reason: u.Reason}
	if err := d.validate("undo"); err != nil {
		return nil, err
	}
	target, err := im.store.Run(ctx, u.RunID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("undo run %d: %s", u.RunID, im.noSuchRun())
	}
	if err != nil {
		return nil, fmt.Errorf("undo run %d: %w", u.RunID, err)
	}
	t, err := im.cfg.Tenant(target.Tenant)
	if err != nil {
		return nil, fmt.Errorf("undo run %d: %w", u.RunID, err)
	}
	release, err := im.store.LockTenant(ctx, t.ID, im.cfg.LockWait)
	if err != nil {
		return nil, fmt.Errorf("undo run %d: %w", u.RunID, err)
	}
	defer release()
	// Re-read under the lock: another operator may have undone it meanwhile.
	if target, err = im.store.Run(ctx, u.RunID); err != nil {
		return nil, fmt.Errorf("undo run %d: %w", u.RunID, err)
	}
	if target.UndoneBy != 0 {
		return nil, fmt.Errorf("undo run %d: %w: it was undone already, by run %d; undo run %d to bring its changes back", u.RunID, ErrNotUndoable, target.UndoneBy, target.UndoneBy)
	}
	im.dropUndo(ctx, t)

	at := im.now().UTC()
	run := &runs.Run{Tenant: t.ID, Status: runs.Completed, Mode: runs.ModeUndo, StartedAt: at, Slot: slotOf(ctx),
		Warnings: []record.Warning{}, Attention: []change.Notice{}, Verdict: safety.Verdict{Passed: true},
		Reason: fmt.Sprintf("undo of run %d", u.RunID),
		Undo:   &runs.Undo{Runs: []int64{u.RunID}, Decision: runs.Decision{By: u.By, At: at, Reason: u.Reason}}}
	im.finish(run)
	im.status("undoing in one transaction")
	undone, err := im.store.Undo(ctx, store.UndoParams{Tenant: t.ID, Of: u.RunID, Cascade: u.Cascade, Run: run, Now: at})
	if err != nil {
		return nil, im.undoRefused(ctx, t, target, err)
	}
	if len(undone) > 1 {
		ids := make([]string, len(undone))
		for i, id := range undone {
			ids[i] = fmt.Sprint(id)
		}
		run.Reason = fmt.Sprintf("undo of run %d, with the runs after it (undone newest first: %s)", u.RunID, strings.Join(ids, ", "))
	}
	im.finish(run)
	if err := im.store.SaveRun(ctx, run); err != nil {
		im.log.Error("record run", "tenant", t.ID, "run", run.ID, "err", err)
	}
	im.log.Info("run undone", "tenant", t.ID, "run", run.ID, "undone", undone, "by", u.By)
	im.report(ctx, t, run, nil)
	return run, nil
}

// undoRefused explains a refused undo.
func (im *Importer) undoRefused(ctx context.Context, t *config.Tenant, target *runs.Run, err error) error {
	id := target.ID
	var later *store.LaterChangesError
	switch {
	case errors.As(err, &later):
		var parts []string
		for _, l := range later.Later {
			parts = append(parts, im.describeRun(ctx, l))
		}
		msg := "it is not the tenant's latest applied change"
		if len(parts) > 0 {
			msg += "; after it came " + strings.Join(parts, "; ")
		}
		if later.Unrecorded {
			msg += ". The state also changed since in a way that kept no before-images (a trash or archive restore, a purge, the live channel, or a run whose before-images are not kept or have expired), so it cannot be undone past that"
		} else {
			msg += fmt.Sprintf(". Undo those first, or add --cascade to undo them and run %d, newest first, in one transaction", id)
		}
		return fmt.Errorf("undo run %d: refused: %w: %s; nothing was changed", id, ErrNotUndoable, msg)
	case errors.Is(err, store.ErrNotFound):
		why := "its before-images are gone"
		switch {
		case target.Status != runs.Completed && target.Status != runs.Held:
			why = fmt.Sprintf("it is %s and applied nothing", target.Status)
		case target.VersionAfter == target.VersionBefore && target.Status == runs.Completed:
			why = "it changed nothing"
		case t.UndoDays == 0:
			why = "tenant " + t.ID + " keeps no before-images (undo_days: 0)"
		case im.now().Sub(target.StartedAt) > time.Duration(t.UndoDays)*24*time.Hour:
			why = fmt.Sprintf("its before-images were dropped after undo_days (%d days)", t.UndoDays)
		}
		return fmt.Errorf("undo run %d: %w: %s; nothing was changed", id, ErrNotUndoable, why)
	}
	return fmt.Errorf("undo run %d: %w", id, err)
}

func (im *Importer) describeRun(ctx context.Context, id int64) string {
	r, err := im.store.Run(ctx, id)
	if err != nil {
		return fmt.Sprintf("run %d", id)
	}
	what := r.File.Name
	switch {
	case r.Undo != nil:
		what = r.Reason
	case r.Approval != nil:
		what += ", approved by " + r.Approval.By
	}
	return fmt.Sprintf("run %d (%s %s, %s)", id, r.Status, r.StartedAt.Format("2006-01-02 15:04"), what)
}

// dropUndo drops the tenant's before-images older than its undo_days. A failure only delays
// it to the next run.
func (im *Importer) dropUndo(ctx context.Context, t *config.Tenant) {
	before := im.now().Add(-time.Duration(t.UndoDays) * 24 * time.Hour)
	if n, err := im.store.DropUndo(ctx, t.ID, before); err != nil {
		im.log.Warn("drop expired before-images", "tenant", t.ID, "err", err)
	} else if n > 0 {
		im.log.Info("dropped expired before-images", "tenant", t.ID, "change_sets", n, "undo_days", t.UndoDays)
	}
}

// DropExpiredUndo drops every configured tenant's before-images older than its undo_days
// (`imsfeed serve` calls it daily).
func (im *Importer) DropExpiredUndo(ctx context.Context) {
	for i := range im.cfg.Tenants {
		im.dropUndo(ctx, &im.cfg.Tenants[i])
	}
}

// noUndo says whether the tenant keeps no before-images (undo_days: 0).
func (im *Importer) noUndo(tenant string) bool {
	t, err := im.cfg.Tenant(tenant)
	return err == nil && t.UndoDays == 0
}
