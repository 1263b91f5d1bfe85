package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/adhocore/gronx"

	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/runs"
)

// cmdServe runs each tenant on its cron schedule until SIGINT/SIGTERM, then stops scheduling,
// waits for the runs in progress and returns. Several serve processes may share one PostgreSQL:
// the tenant locks keep each run on one of them (the others' attempts wait, then find under the
// lock that the file was already had, and record nothing). Each process still fetches every
// file: one job per tenant-slot (issue 13, river) is not built yet.
func (a *app) cmdServe(ctx context.Context, args []string) error {
	fs := a.flags("serve", "serve", "imsfeed --config /etc/imsfeed/imsfeed.yaml serve")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if err := a.open(ctx); err != nil {
		return err
	}
	if len(a.cfg.Tenants) == 0 {
		return usagef("serve: the config has no tenants to schedule")
	}
	stopHTTP, err := a.startHTTP(ctx) // the live channel, when the config has an http block
	if err != nil {
		return err
	}
	defer stopHTTP()
	im := a.importer()
	g := gronx.New()
	var wg sync.WaitGroup
	running := map[string]bool{}
	var mu sync.Mutex
	if !a.levelExplicit {
		a.level.Set(slog.LevelInfo) // serve's log is its output, on a terminal too
	}
	a.log.Info("serving", "tenants", len(a.cfg.Tenants))
	for i := range a.cfg.Tenants {
		a.logNextRun(&a.cfg.Tenants[i], time.Now())
	}
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	var last time.Time // the last minute whose schedules were checked
	for {
		// Every minute since the last check: a slow tick never skips a tenant's slot.
		now := time.Now().Truncate(time.Minute)
		from := last.Add(time.Minute)
		if last.IsZero() || now.Sub(last) > 24*time.Hour {
			from = now
		}
		for m := from; !m.After(now); m = m.Add(time.Minute) {
			for i := range a.cfg.Tenants {
				t := &a.cfg.Tenants[i]
				if due, err := g.IsDue(t.Schedule, m); err != nil || !due {
					continue
				}
				mu.Lock()
				busy := running[t.ID]
				running[t.ID] = true
				mu.Unlock()
				if busy {
					a.log.Warn("previous run still going; this slot is skipped", "tenant", t.ID)
					continue
				}
				wg.Add(1)
				go func(t *config.Tenant) {
					defer wg.Done()
					defer func() { mu.Lock(); delete(running, t.ID); mu.Unlock() }()
					if _, err := im.Run(ctx, t); err != nil && ctx.Err() == nil {
						a.log.Error("scheduled run", "tenant", t.ID, "err", err)
					}
					if ctx.Err() == nil {
						a.logNextRun(t, time.Now())
					}
				}(t)
			}
		}
		last = now
		if _, err := a.mailer.Flush(ctx); err != nil {
			a.log.Warn("queued status mails still waiting", "err", err)
		}
		select {
		case <-ctx.Done():
			a.log.Info("stopping: waiting for runs in progress")
			wg.Wait()
			return nil
		case <-tick.C:
		}
	}
}

// logNextRun says when the tenant runs next, in the machine's time with its zone, so an
// operator reading the log knows what to expect and that the schedule is what they meant.
func (a *app) logNextRun(t *config.Tenant, after time.Time) {
	next, err := gronx.NextTickAfter(t.Schedule, after, false)
	if err != nil {
		a.log.Warn("no next run", "tenant", t.ID, "schedule", t.Schedule, "err", err)
		return
	}
	attrs := []any{"tenant", t.ID, "schedule", t.Schedule, "next", runs.TimeText(next, nil), "in", next.Sub(after).Round(time.Second).String()}
	if paused, why := t.PausedAt(next); paused {
		attrs = append(attrs, "paused", why)
	}
	a.log.Info("next run", attrs...)
}
