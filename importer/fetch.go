package importer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/source"
	"github.com/imsfeed/imsfeed/store"
)

// Run is the nightly job for one tenant: pause check, fetch the newest file from the tenant's
// source into the spool, skip it when it is the file already imported, else import it.
// Every outcome is a recorded, mailed run.
func (im *Importer) Run(ctx context.Context, t *config.Tenant) (*runs.Run, error) {
	return im.runSince(ctx, t, im.now())
}

// RunSlot is Run for the scheduled slot that began at began (`imsfeed serve`): a run of the
// tenant that ended after began and decided on the same file was this slot's run, so an attempt
// that comes again (a rescued or retried job) neither imports nor mails that file again.
func (im *Importer) RunSlot(ctx context.Context, t *config.Tenant, slot time.Time) (*runs.Run, error) {
	return im.runSince(withSlot(ctx, slot), t, slot)
}

func (im *Importer) runSince(ctx context.Context, t *config.Tenant, began time.Time) (*runs.Run, error) {
	if paused, why := t.PausedAt(im.now()); paused {
		return im.skip(ctx, t, runs.File{}, why, nil, nil)
	}
	if t.Source.URL == "" {
		return nil, fmt.Errorf("run %s: tenant has no source.url to fetch from; use `imsfeed import --tenant %s FILE` for a local file", t.ID, t.ID)
	}
	secrets, err := t.SourceSecrets()
	if err != nil {
		return im.failFetch(ctx, t, fmt.Errorf("fetch: %w", err), nil)
	}
	sc := t.Source
	sc.MaxSize = int64(t.MaxFileSize) // refused before it is downloaded or hashed
	src, err := source.Open(ctx, sc, secrets, im.log.With("tenant", t.ID))
	if err != nil {
		return im.failFetch(ctx, t, fmt.Errorf("fetch: %w", err), nil)
	}
	defer src.Close()

	spool := filepath.Join(im.cfg.Spool, t.ID)
	f, err := src.Fetch(ctx, spool)
	// How long the fetch waited for the file to settle goes on the run, whatever came of it.
	waited := src.Waited()
	if errors.Is(err, source.ErrNoFile) {
		if d := deferred(ctx, err); d != nil {
			return nil, d // not settled yet: the queue comes back for it
		}
		return im.noNewFile(ctx, t, runs.File{}, err.Error(), &waited)
	}
	if err != nil {
		return im.failFetch(ctx, t, fmt.Errorf("fetch: %w", err), &waited)
	}
	file := runs.File{Name: f.Name, Size: f.Size, SHA256: f.SHA256, Modified: f.ModTime.UTC()}

	// Whether this file is news is decided under the tenant lock: another process (a second
	// serve, cron's run --all) may have imported it while this one fetched or waited.
	var theirs bool
	run, err := im.importFile(ctx, t, f.Path, file, ImportOptions{fetchWait: &waited, underLock: func(ctx context.Context) (r *runs.Run, err error) {
		r, theirs, err = im.alreadyHad(ctx, t, file, began, &waited)
		return r, err
	}})
	if err != nil {
		return nil, err
	}
	if !theirs && (run.Status == runs.Completed || run.Status == runs.Held) {
		if err := src.Done(ctx, f); err != nil {
			im.log.Warn("after-import action on the source file", "tenant", t.ID, "file", f.Name, "err", err)
		}
	}
	if err := source.PruneSpool(spool, t.Source.Keep); err != nil {
		im.log.Warn("prune spool", "tenant", t.ID, "err", err)
	}
	return run, nil
}

type slotKey struct{}

// withSlot tags the runs recorded under ctx with serve's slot (their Slot field).
func withSlot(ctx context.Context, slot time.Time) context.Context {
	return context.WithValue(ctx, slotKey{}, slot.UTC())
}

func slotOf(ctx context.Context) time.Time {
	s, _ := ctx.Value(slotKey{}).(time.Time)
	return s
}

// alreadyHad runs under the tenant lock, before a fetched file is imported. It returns a run
// when the file is not to be imported: the run of another process that decided on this file
// (or a newer one) while this attempt fetched or waited for the lock, which this attempt then
// neither records nor mails (one file, one run, one mail); or a recorded skip when the file is
// the one the last completed import had, or older than the last imported file.
func (im *Importer) alreadyHad(ctx context.Context, t *config.Tenant, file runs.File, began time.Time, wait *time.Duration) (_ *runs.Run, theirs bool, _ error) {
	recent, err := im.store.ListRuns(ctx, store.ListRunsParams{Tenant: t.ID, Limit: 50})
	if err != nil {
		return nil, false, fmt.Errorf("run %s: %w", t.ID, err)
	}
	slot := slotOf(ctx)
	for _, r := range recent {
		// This attempt's slot had its run already (an attempt before a rescue or retry), or a
		// run that overlapped this attempt (or slot) had the file.
		same := !slot.IsZero() && r.Slot.Equal(slot)
		overlapped := r.FinishedAt != nil && r.FinishedAt.After(began) && (slot.IsZero() || r.Slot.IsZero())
		if !same && !overlapped {
			continue
		}
		switch r.Status {
		case runs.Completed, runs.Held, runs.Skipped, runs.Superseded, runs.Rejected:
		default:
			continue // a failure decided nothing about the file
		}
		if (file.SHA256 != "" && r.File.SHA256 == file.SHA256) || newerFile(r, file) {
			im.log.Info("another process already had this file; this attempt is not recorded", "tenant", t.ID, "file", file.Name, "run", r.ID, "status", r.Status)
			if r.Mail == "" {
				// Its process mails before it lets go of the lock: it died between recording
				// the run and mailing it. The run's own mail, late but not missing.
				im.report(ctx, t, r, nil)
			}
			return r, true, nil
		}
	}
	// The same bytes as the file an operator rejected, or that failed for its content: it is
	// not imported again (and held or failed again, night after night) until a new file comes.
	if r, err := im.lastDecided(ctx, t.ID); err != nil {
		return nil, false, fmt.Errorf("run %s: %w", t.ID, err)
	} else if r != nil && file.SHA256 != "" && r.File.SHA256 == file.SHA256 && (r.Status == runs.Rejected || r.Status == runs.Failed) {
		why := fmt.Sprintf("same file as rejected run %d (%s); it is not imported again until a new file arrives", r.ID, r.File.Name)
		if r.Status == runs.Failed {
			why = fmt.Sprintf("same file as failed run %d (%s); it is not imported again until a new file arrives", r.ID, r.File.Name)
		}
		r, err := im.noNewFile(ctx, t, file, why, wait)
		return r, false, err
	}
	// The same bytes as the last completed import: nothing to do, but still a run and a mail.
	last, err := im.store.LastRun(ctx, t.ID, runs.Completed)
	if err == nil && last.File.SHA256 == file.SHA256 {
		r, err := im.noNewFile(ctx, t, file, fmt.Sprintf("unchanged file: same SHA-256 as run %d (%s)", last.ID, last.File.Name), wait)
		return r, false, err
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, false, fmt.Errorf("run %s: %w", t.ID, err)
	}
	last, err = im.store.LastRun(ctx, t.ID, runs.Completed, runs.Held)
	if err == nil && newerFile(last, file) {
		r, err := im.noNewFile(ctx, t, file, fmt.Sprintf("older file: %s was modified %s, before %s (modified %s) that run %d imported",
			file.Name, file.Modified.Format(time.RFC3339), last.File.Name, last.File.Modified.Format(time.RFC3339), last.ID), wait)
		return r, false, err
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, false, fmt.Errorf("run %s: %w", t.ID, err)
	}
	return nil, false, nil
}

// lastDecided returns the tenant's newest run that decided on a file: applied, held, rejected,
// superseded, or failed because of the file's content. Skips, dry runs and failures of the
// store, the lock or the source decided nothing about the file. nil when there is none.
func (im *Importer) lastDecided(ctx context.Context, tenant string) (*runs.Run, error) {
	list, err := im.store.ListRuns(ctx, store.ListRunsParams{Tenant: tenant, Limit: 50,
		Status: []runs.Status{runs.Completed, runs.Held, runs.Rejected, runs.Superseded, runs.Failed}})
	if err != nil {
		return nil, err
	}
	for _, r := range list {
		if r.Status != runs.Failed || r.FileFault() {
			return r, nil
		}
	}
	return nil, nil
}

// newerFile says whether run r made a plan from a file modified after file was.
func newerFile(r *runs.Run, file runs.File) bool {
	if r.Status != runs.Completed && r.Status != runs.Held {
		return false
	}
	return !file.Modified.IsZero() && r.File.Modified.After(file.Modified)
}

// noNewFile records a skipped run, or a failed one when no new file has come for longer than
// the tenant's stale_after: a missing export is news.
func (im *Importer) noNewFile(ctx context.Context, t *config.Tenant, file runs.File, why string, wait *time.Duration) (*runs.Run, error) {
	if t.StaleAfter > 0 {
		last, err := im.store.LastRun(ctx, t.ID, runs.Completed, runs.Held)
		if err == nil && last.FinishedAt != nil {
			age := im.now().Sub(*last.FinishedAt)
			if age > t.StaleAfter {
				notice := change.Notice{Kind: change.NoticeStaleSource, Message: fmt.Sprintf(
					"no new file for %s (stale_after is %s): the last imported file was %s in run %d; check the SIS export",
					age.Round(time.Minute), t.StaleAfter, last.File.Name, last.ID)}
				return im.skip(ctx, t, file, why, &notice, wait)
			}
		}
	}
	return im.skip(ctx, t, file, why, nil, wait)
}

// skip records a skipped run; wait is how long its fetch waited (nil: it fetched nothing).
func (im *Importer) skip(ctx context.Context, t *config.Tenant, file runs.File, why string, notice *change.Notice, wait *time.Duration) (*runs.Run, error) {
	run := &runs.Run{Tenant: t.ID, Status: runs.Skipped, Mode: t.Mode, File: file, StartedAt: im.now().UTC(), Slot: slotOf(ctx), Reason: why,
		Warnings: nil, Attention: []change.Notice{}}
	if wait != nil {
		run.SetFetchWait(*wait)
	}
	if notice != nil {
		run.Attention = append(run.Attention, *notice)
	}
	// A skip changes nothing: its counts are what the store holds, before as after, so its
	// mail's "Current state" is the tenant's, not an empty one.
	if st, err := im.store.Status(ctx, t.ID); err == nil {
		run.VersionBefore, run.VersionAfter = st.StateVersion, st.StateVersion
		run.Counts = storedCounts(st, st)
	} else {
		im.log.Warn("skipped run: the tenant's stored counts could not be read", "tenant", t.ID, "err", err)
		run.Attention = append(run.Attention, change.Notice{Kind: "counts-unknown",
			Message: "the tenant's stored counts could not be read (" + err.Error() + "): the table's zeros are not the tenant's"})
	}
	run.Attention = append(run.Attention, noticesFrom(ctx)...)
	im.finish(run)
	if !im.recordNew(ctx, t, run, nil) {
		return run, nil
	}
	im.log.Info("run skipped", "tenant", t.ID, "run", run.ID, "reason", why, fetchWaitAttr(run))
	im.report(ctx, t, run, nil)
	return run, nil
}

// storedCounts are a run's counts before and after of what an import counts (active persons
// and groups, synced memberships, relations), as the store held them: a skip's (before as
// after) and an operator's restore or purge.
func storedCounts(before, after store.TenantStatus) change.Counts {
	var c change.Counts
	c.Persons.Before, c.Persons.After = before.Persons.Active, after.Persons.Active
	c.Groups.Before, c.Groups.After = before.Groups.Active, after.Groups.Active
	c.Memberships.Before, c.Memberships.After = before.Memberships.Synced, after.Memberships.Synced
	c.Relations.Before, c.Relations.After = before.Relations.Active, after.Relations.Active
	return c
}

func (im *Importer) failFetch(ctx context.Context, t *config.Tenant, err error, wait *time.Duration) (*runs.Run, error) {
	if d := deferred(ctx, err); d != nil {
		return nil, d
	}
	err = withEarlier(ctx, err)
	run := &runs.Run{Tenant: t.ID, Status: runs.Running, Mode: t.Mode, StartedAt: im.now().UTC(), Slot: slotOf(ctx), Attention: []change.Notice{}}
	if wait != nil {
		run.SetFetchWait(*wait)
	}
	if !im.recordNew(ctx, t, run, err) {
		return run, nil
	}
	return im.fail(ctx, t, run, err)
}

// RunAll runs every tenant, parallel at a time, and returns their runs in config order. A
// tenant whose run could not even be recorded gets a nil run and its error. A live-only tenant
// has no nightly file to fetch: it gets its live digest mailed, and a nil run without error.
func (im *Importer) RunAll(ctx context.Context, parallel int) ([]*runs.Run, []error) {
	if parallel < 1 {
		parallel = 1
	}
	out := make([]*runs.Run, len(im.cfg.Tenants))
	errs := make([]error, len(im.cfg.Tenants))
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i := range im.cfg.Tenants {
		t := &im.cfg.Tenants[i]
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if t.LiveOnly() {
				_, errs[i] = im.Digest(ctx, t, time.Time{})
				return
			}
			out[i], errs[i] = im.Run(ctx, t)
		}()
	}
	wg.Wait()
	return out, errs
}

// fetchWaitAttr is the log attribute saying how long the run's fetch waited for its file to
// settle (empty when it fetched nothing).
func fetchWaitAttr(run *runs.Run) slog.Attr {
	if d, ok := run.FetchWait(); ok {
		return slog.Duration("fetch_waited", d)
	}
	return slog.Attr{}
}
