package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/console"
	"github.com/imsfeed/imsfeed/queue"
	"github.com/imsfeed/imsfeed/runs"
)

// cmdServe runs each tenant on its cron schedule until SIGINT/SIGTERM, then stops taking jobs,
// waits for the runs in progress and returns. The serve processes on one store are workers of
// one job queue (package queue, on river): each tenant's slot is one job, worked by one of them.
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
	a.counters = console.NewCounters()
	if !a.levelExplicit {
		a.level.Set(slog.LevelInfo) // serve's log is its output, on a terminal too
	}
	q, err := queue.Open(ctx, queue.Params{Config: a.cfg, Importer: a.importer(), Store: a.store, Logger: a.log,
		AfterRun: func(t *config.Tenant) { a.logNextRun(t, time.Now()) }})
	if err != nil {
		return err
	}
	stopHTTP, err := a.startHTTP(ctx, q.ImportNow) // the live channel and console, when the config has an http block
	if err != nil {
		q.Close()
		return err
	}
	defer stopHTTP()
	// The queue outlives ctx (SIGTERM): it stops after the runs in progress have finished.
	if err := q.Start(context.WithoutCancel(ctx)); err != nil {
		q.Close()
		return fmt.Errorf("queue: %w", err)
	}
	a.log.Info("serving", "tenants", len(a.cfg.Tenants), "workers", a.cfg.Queue.Workers, "process", q.ID)
	for i := range a.cfg.Tenants {
		a.logNextRun(&a.cfg.Tenants[i], time.Now())
	}
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	var swept time.Time
	for {
		// Before-images past their tenant's undo_days go once a day (and at each run).
		if time.Since(swept) > 24*time.Hour {
			a.importer().DropExpiredUndo(ctx)
			swept = time.Now()
		}
		if _, err := a.mailer.Flush(ctx); err != nil {
			a.log.Warn("queued status mails still waiting", "err", err)
		}
		select {
		case <-ctx.Done():
			a.log.Info("stopping: waiting for runs in progress")
			return q.Stop(context.WithoutCancel(ctx))
		case <-tick.C:
		}
	}
}

// logNextRun says when the tenant runs next, in the machine's time with its zone (and in the
// tenant's timezone, its schedule's clock, when that differs), so an operator reading the log
// knows what to expect and that the schedule is what they meant.
func (a *app) logNextRun(t *config.Tenant, after time.Time) {
	next, err := queue.SlotAfter(t, after)
	if err != nil {
		a.log.Warn("no next run", "tenant", t.ID, "schedule", t.Schedule, "err", err)
		return
	}
	attrs := []any{"tenant", t.ID, "schedule", t.Schedule, "next", runs.TimeText(next, nil)}
	if local := runs.TimeText(next, t.Location()); t.Timezone != "" && local != attrs[5] {
		attrs = append(attrs, "tenant_time", local) // the schedule's own clock, to check it by
	}
	attrs = append(attrs, "in", next.Sub(after).Round(time.Second).String())
	if paused, why := t.PausedAt(next); paused {
		attrs = append(attrs, "paused", why)
	}
	a.log.Info("next run", attrs...)
}
