package importer

import (
	"context"
	"errors"
	"fmt"
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
	if paused, why := t.PausedAt(im.now()); paused {
		return im.skip(ctx, t, runs.File{}, why, nil)
	}
	if t.Source.URL == "" {
		return nil, fmt.Errorf("run %s: tenant has no source.url to fetch from; use `imsfeed import --tenant %s FILE` for a local file", t.ID, t.ID)
	}
	secrets, err := t.SourceSecrets()
	if err != nil {
		return im.failFetch(ctx, t, fmt.Errorf("fetch: %w", err))
	}
	src, err := source.Open(ctx, t.Source, secrets, im.log.With("tenant", t.ID))
	if err != nil {
		return im.failFetch(ctx, t, fmt.Errorf("fetch: %w", err))
	}
	defer src.Close()

	spool := filepath.Join(im.cfg.Spool, t.ID)
	f, err := src.Fetch(ctx, spool)
	if errors.Is(err, source.ErrNoFile) {
		return im.noNewFile(ctx, t, runs.File{}, err.Error())
	}
	if err != nil {
		return im.failFetch(ctx, t, fmt.Errorf("fetch: %w", err))
	}
	file := runs.File{Name: f.Name, Size: f.Size, SHA256: f.SHA256}

	// The same bytes as the last completed import: nothing to do, but still a run and a mail.
	if last, err := im.store.LastRun(ctx, t.ID, runs.Completed); err == nil && last.File.SHA256 == f.SHA256 {
		return im.noNewFile(ctx, t, file, fmt.Sprintf("unchanged file: same SHA-256 as run %d (%s)", last.ID, last.File.Name))
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("run %s: %w", t.ID, err)
	}

	run, err := im.importFile(ctx, t, f.Path, file, ImportOptions{})
	if err != nil {
		return nil, err
	}
	if run.Status == runs.Completed || run.Status == runs.Held {
		if err := src.Done(ctx, f); err != nil {
			im.log.Warn("after-import action on the source file", "tenant", t.ID, "file", f.Name, "err", err)
		}
	}
	if err := source.PruneSpool(spool, t.Source.Keep); err != nil {
		im.log.Warn("prune spool", "tenant", t.ID, "err", err)
	}
	return run, nil
}

// noNewFile records a skipped run, or a failed one when no new file has come for longer than
// the tenant's stale_after: a missing export is news.
func (im *Importer) noNewFile(ctx context.Context, t *config.Tenant, file runs.File, why string) (*runs.Run, error) {
	if t.StaleAfter > 0 {
		last, err := im.store.LastRun(ctx, t.ID, runs.Completed, runs.Held)
		if err == nil && last.FinishedAt != nil {
			age := im.now().Sub(*last.FinishedAt)
			if age > t.StaleAfter {
				notice := change.Notice{Kind: change.NoticeStaleSource, Message: fmt.Sprintf(
					"no new file for %s (stale_after is %s): the last imported file was %s in run %d; check the SIS export",
					age.Round(time.Minute), t.StaleAfter, last.File.Name, last.ID)}
				return im.skip(ctx, t, file, why, &notice)
			}
		}
	}
	return im.skip(ctx, t, file, why, nil)
}

func (im *Importer) skip(ctx context.Context, t *config.Tenant, file runs.File, why string, notice *change.Notice) (*runs.Run, error) {
	run := &runs.Run{Tenant: t.ID, Status: runs.Skipped, Mode: t.Mode, File: file, StartedAt: im.now().UTC(), Reason: why,
		Warnings: nil, Attention: []change.Notice{}}
	if notice != nil {
		run.Attention = append(run.Attention, *notice)
	}
	if st, err := im.store.Status(ctx, t.ID); err == nil {
		run.VersionBefore, run.VersionAfter = st.StateVersion, st.StateVersion
	}
	im.finish(run)
	if err := im.store.CreateRun(ctx, run); err != nil {
		return nil, fmt.Errorf("run %s: record run: %w", t.ID, err)
	}
	im.log.Info("run skipped", "tenant", t.ID, "run", run.ID, "reason", why)
	im.report(ctx, t, run, nil)
	return run, nil
}

func (im *Importer) failFetch(ctx context.Context, t *config.Tenant, err error) (*runs.Run, error) {
	run := &runs.Run{Tenant: t.ID, Status: runs.Running, Mode: t.Mode, StartedAt: im.now().UTC(), Attention: []change.Notice{}}
	if cerr := im.store.CreateRun(ctx, run); cerr != nil {
		return nil, fmt.Errorf("run %s: %v; and recording it: %w", t.ID, err, cerr)
	}
	return im.fail(ctx, t, run, err)
}

// RunAll runs every tenant, parallel at a time, and returns their runs in config order. A
// tenant whose run could not even be recorded gets a nil run and its error.
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
			out[i], errs[i] = im.Run(ctx, t)
		}()
	}
	wg.Wait()
	return out, errs
}
