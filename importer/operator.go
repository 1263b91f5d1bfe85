package importer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/safety"
	"github.com/imsfeed/imsfeed/store"
)

// ModeRestore is the Mode of the run that records an operator's restore from the trash can or
// the archive, or a purge of the trash can.
const ModeRestore = runs.ModeRestore

// Objects are what an operator's restore or purge works on: the trash can or the archive.
type Objects int

const (
	Trash Objects = iota
	Archive
)

// OperatorRequest is an operator's restore or purge (`imsfeed trash|archive restore`, `trash
// purge`, the console's restore buttons).
type OperatorRequest struct {
	Tenant string
	From   Objects
	Keys   []string
	// Purge (trash only) deletes for good instead of restoring: Keys, or all trashed before
	// PurgeBefore when Keys is empty.
	Purge       bool
	PurgeBefore time.Time
	By          string
}

// Operate restores (or purges) and records it as a run of its own, in the same transaction,
// mailed like any, so the run history says who gave back or deleted what and when: these change
// the state (and stop an undo from reaching past them) without a file. A refused request (an
// unknown key) changes nothing and records nothing; a purge that finds nothing returns a nil
// run (a restore names keys, so it always has one). n is how many persons or courses were
// restored or purged. It does not wait for the tenant lock, as before: an import reading its
// file meanwhile plans again against the new state.
func (im *Importer) Operate(ctx context.Context, req OperatorRequest) (run *runs.Run, n int, err error) {
	verb := "restore"
	if req.Purge {
		verb = "purge"
	}
	t, err := im.cfg.Tenant(req.Tenant)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", verb, err)
	}
	if strings.TrimSpace(req.By) == "" {
		return nil, 0, fmt.Errorf("%s: who asks is required (--by NAME)", verb)
	}
	if !req.Purge && len(req.Keys) == 0 {
		// Only a purge may find nothing: a restore always answers with its run.
		return nil, 0, fmt.Errorf("%s: name the keys to restore", verb)
	}
	if req.Purge && req.From != Trash {
		return nil, 0, errors.New("purge: only the trash can is purged")
	}
	// The run is recorded in the transaction that makes the change (a crash leaves both or
	// neither), with the counts that transaction saw before and after.
	run = &runs.Run{Tenant: t.ID, Status: runs.Completed, Mode: ModeRestore, StartedAt: im.now().UTC(),
		Warnings: []record.Warning{}, Attention: []change.Notice{}, Verdict: safety.Verdict{Passed: true}}
	rec := &store.RunRecord{Run: run, Describe: func(run *runs.Run, keys []string, before, after store.TenantStatus) {
		n := len(keys)
		run.Counts = storedCounts(before, after)
		switch {
		case req.Purge:
			run.Reason = fmt.Sprintf("%d person(s) purged from the trash can for good by %s", n, req.By)
			// Who is gone for good, in the run's record and its mail: nothing brings them back.
			run.Attention = append(run.Attention, change.Notice{Kind: "purged",
				Message: "Purged for good (no restore or undo brings them back): " + someKeys(keys, maxPurgedListed)})
		case req.From == Archive:
			run.Counts.Groups.Restored = n
			run.Reason = fmt.Sprintf("%d course(s) restored from the archive by %s; the next import rewrites them from the file", n, req.By)
		default:
			run.Counts.Persons.Restored = n
			run.Reason = fmt.Sprintf("%d person(s) restored from the trash can by %s; the next import re-creates their memberships", n, req.By)
		}
		im.finish(run)
	}}
	switch {
	case req.Purge:
		n, err = im.store.PurgeTrash(ctx, t.ID, store.PurgeParams{Keys: req.Keys, Before: req.PurgeBefore, Record: rec})
	case req.From == Archive:
		n, err = im.store.RestoreArchived(ctx, t.ID, req.Keys, rec)
	default:
		n, err = im.store.RestoreTrash(ctx, t.ID, req.Keys, rec)
	}
	if err != nil {
		return nil, 0, err
	}
	if n == 0 {
		return nil, 0, nil // a purge that found nothing: no change, no run, no mail
	}
	im.log.Info("operator "+verb, "tenant", t.ID, "run", run.ID, "by", req.By, "keys", len(req.Keys), "n", n)
	im.report(ctx, t, run, nil)
	return run, n, nil
}

// maxPurgedListed is how many purged persons' keys a purge's run lists by name.
const maxPurgedListed = 100

// someKeys lists keys, the first max of them and how many more.
func someKeys(keys []string, max int) string {
	if len(keys) <= max {
		return strings.Join(keys, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(keys[:max], ", "), len(keys)-max)
}
