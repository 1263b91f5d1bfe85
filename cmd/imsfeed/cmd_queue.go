package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/imsfeed/imsfeed/queue"
	"github.com/imsfeed/imsfeed/runs"
)

// slotLayout writes a slot (a minute of the machine's clock) with the zone's name, as `runs`.
const slotLayout = "2006-01-02 15:04 MST"

// cmdQueue shows serve's job queue: next slots, running jobs (which process, since when),
// retries and failures.
func (a *app) cmdQueue(ctx context.Context, args []string) error {
	fs := a.flags("queue", "queue [--json]", "imsfeed --config /etc/imsfeed/imsfeed.yaml queue")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if err := a.open(ctx); err != nil {
		return err
	}
	r, err := queue.Inspect(ctx, a.cfg, time.Now())
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(a.stdout, r)
	}
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	stamp := func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return runs.TimeText(*t, nil)
	}
	scheduled := fmt.Sprintf("%d tenants", len(r.Next))
	if len(r.Next) == 1 {
		scheduled = "1 tenant"
	}
	fmt.Fprintf(w, "Next slots (%s scheduled)\n", scheduled)
	for i, n := range r.Next {
		if i == 20 {
			fmt.Fprintf(w, "  … and %d more\n", len(r.Next)-20)
			break
		}
		what := ""
		if n.Digest {
			what = "\tlive digest"
		}
		fmt.Fprintf(w, "  %s\t%s%s\n", n.Slot.Local().Format(slotLayout), n.Tenant, what)
	}
	section := func(title string, jobs []queue.Job, row func(queue.Job) string) {
		fmt.Fprintf(w, "%s (%d)\n", title, len(jobs))
		for _, j := range jobs {
			fmt.Fprintf(w, "  job %d\t%s\tslot %s\t%s\n", j.ID, j.Tenant, j.Slot.Local().Format(slotLayout), row(j))
		}
	}
	section("Running", r.Running, func(j queue.Job) string {
		return fmt.Sprintf("attempt %d on %s since %s", j.Attempt, j.Process, stamp(j.Since))
	})
	section("Retrying", r.Retrying, func(j queue.Job) string {
		return fmt.Sprintf("attempt %d failed: %s; next %s", j.Attempt, j.LastError, stamp(j.NextAt))
	})
	section("Failed", r.Failed, func(j queue.Job) string {
		return fmt.Sprintf("%s after %d attempts: %s", j.State, j.Attempt, j.LastError)
	})
	return w.Flush()
}
