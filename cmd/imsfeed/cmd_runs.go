package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/importer"
	"github.com/imsfeed/imsfeed/mailer"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/store"
)

func (a *app) cmdRun(ctx context.Context, args []string) error {
	fs := a.flags("run", "run (--tenant T | --all) [--parallel N] [--json]", "imsfeed --config /etc/imsfeed/imsfeed.yaml run --all --parallel 4")
	tenant := fs.String("tenant", "", "tenant id")
	all := fs.Bool("all", false, "every configured tenant")
	parallel := fs.Int("parallel", 1, "tenants imported at the same time with --all")
	asJSON := fs.Bool("json", false, "print one JSON document (an array with --all)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 || (*tenant == "") == !*all {
		return usagef("run: want either --tenant T or --all")
	}
	if *parallel < 1 {
		return usagef("run: --parallel must be at least 1")
	}
	if err := a.openFor(ctx, *tenant); err != nil {
		var se storeError
		if !errors.As(err, &se) {
			return err
		}
		// Still attempts, and mailed: no mail means no attempt.
		var ts []*config.Tenant
		for i := range a.cfg.Tenants {
			if *all || a.cfg.Tenants[i].ID == *tenant {
				ts = append(ts, &a.cfg.Tenants[i])
			}
		}
		if len(ts) == 0 && *tenant != "" {
			t, terr := a.cfg.Tenant(*tenant) // the embedded default takes any tenant id
			if terr != nil {
				return usageError{terr.Error()}
			}
			ts = append(ts, t)
		}
		return a.unreachable(ctx, ts, runs.File{}, se, *asJSON, *all)
	}
	im := a.importer()
	if *tenant != "" {
		t, err := a.cfg.Tenant(*tenant)
		if err != nil {
			return usageError{err.Error()}
		}
		if t.LiveOnly() { // no nightly file: its schedule mails the live digest
			mailed, err := im.Digest(ctx, t, time.Time{})
			if err != nil {
				return err
			}
			d := liveDigest(t.ID, mailed, time.Now().UTC())
			if *asJSON {
				return printJSON(a.stdout, d)
			}
			fmt.Fprintf(a.stdout, "tenant %s: %s\n", t.ID, d.Reason)
			return nil
		}
		stop := a.showProgress(ctx, im, *asJSON)
		run, err := im.Run(ctx, t)
		stop()
		if err != nil {
			return err
		}
		return a.printRunResult(run, *asJSON)
	}
	if len(a.cfg.Tenants) == 0 {
		return usagef("run --all: the config has no tenants")
	}
	results, errs := im.RunAll(ctx, *parallel)
	worst := exitOK
	list := []any{}
	for i, r := range results {
		if errs[i] != nil {
			fmt.Fprintf(a.stderr, "imsfeed: tenant %s: %v\n", a.cfg.Tenants[i].ID, errs[i])
			worst = max(worst, exitFailed)
			continue
		}
		if r == nil { // a live-only tenant: its digest was mailed
			d := liveDigest(a.cfg.Tenants[i].ID, true, time.Now().UTC())
			if *asJSON {
				list = append(list, d)
			} else {
				fmt.Fprintf(a.stdout, "tenant %s: %s\n\n", d.Tenant, d.Reason)
			}
			continue
		}
		list = append(list, normalize(r))
		worst = worstCode(worst, r.Status.ExitCode())
		if !*asJSON {
			printRun(a.stdout, r, 5)
			fmt.Fprintln(a.stdout)
		}
	}
	if *asJSON {
		if err := printJSON(a.stdout, list); err != nil {
			return err
		}
	}
	if worst != exitOK {
		return exitError{worst}
	}
	return nil
}

// worstCode orders exit codes by severity: failed (1) beats held (3) beats ok (0).
func worstCode(a, b int) int {
	rank := func(c int) int {
		switch c {
		case exitFailed:
			return 2
		case exitHeld:
			return 1
		}
		return 0
	}
	if rank(b) > rank(a) {
		return b
	}
	return a
}

func (a *app) cmdRuns(ctx context.Context, args []string) error {
	fs := a.flags("runs", "runs [--tenant T] [--limit N] [--json]", "imsfeed runs --tenant northside")
	tenant := fs.String("tenant", "", "only this tenant")
	limit := fs.Int("limit", 30, "at most this many runs")
	asJSON := fs.Bool("json", false, "print one JSON document")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if err := a.openFor(ctx, *tenant); err != nil {
		return err
	}
	list, err := a.store.ListRuns(ctx, store.ListRunsParams{Tenant: *tenant, Limit: *limit})
	if err != nil {
		return err
	}
	if *asJSON {
		for _, r := range list {
			normalize(r)
		}
		if list == nil {
			list = []*runs.Run{}
		}
		return printJSON(a.stdout, list)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tTENANT\tSTARTED\tSTATUS\tFILE\tPERSONS +/~/-\tNOTE")
	for _, r := range list {
		p := r.Counts.Persons
		note := r.Reason
		switch {
		case r.Error != nil:
			note = r.Error.Message
		case r.Approval != nil:
			note = "approved by " + r.Approval.By + ": " + r.Approval.Reason
		case r.Rejection != nil:
			note = "rejected by " + r.Rejection.By + ": " + r.Rejection.Reason
		}
		switch r.Mail {
		case mailer.StatusQueued, mailer.StatusDead, mailer.StatusUnconfirmed:
			// The mail's fate comes first: a long note must not cut it off.
			m := "[mail " + r.Mail
			if r.MailError != "" {
				m += ": " + r.MailError
			}
			note = strings.TrimSpace(m + "] " + note)
		}
		note = cut(note, 200)
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t+%d/~%d/-%d\t%s\n", r.ID, r.Tenant, r.StartedAt.Local().Format("2006-01-02 15:04 MST"),
			r.Status, r.File.Name, p.Inserted+p.Restored, p.Updated, p.Deleted, note)
	}
	return tw.Flush()
}

// cut shortens s to at most n runes, marking the cut with "…".
func cut(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func runID(verb string, pos []string) (int64, error) {
	if len(pos) != 1 {
		return 0, usagef("%s: want exactly one RUN id", verb)
	}
	id, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil || id <= 0 {
		return 0, usagef("%s: %q is not a run id (see `imsfeed runs`)", verb, pos[0])
	}
	return id, nil
}

func (a *app) cmdShow(ctx context.Context, args []string) error {
	fs := a.flags("show", "show RUN [--json] [--plan [--raw]]", "imsfeed show 17 --plan | less")
	asJSON := fs.Bool("json", false, "print one JSON document")
	plan := fs.Bool("plan", false, "print the held run's stored plan, indented, without content hashes")
	raw := fs.Bool("raw", false, "with --plan: the exact stored bytes approval applies (their SHA-256 is the run's plan_sha256)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	id, err := runID("show", pos)
	if err != nil {
		return err
	}
	if err := a.open(ctx); err != nil {
		return err
	}
	if *plan {
		if !*raw {
			return printPlan(ctx, a.stdout, a.importer(), id)
		}
		r, err := a.importer().PlanReader(ctx, id)
		if err != nil {
			return err
		}
		defer r.Close()
		_, err = io.Copy(a.stdout, r)
		return err
	}
	r, err := a.store.Run(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("show: no run %d (see `imsfeed runs`)", id)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(a.stdout, normalize(r))
	}
	printRun(a.stdout, r, 0)
	if r.Status == runs.Held {
		a.nextSteps(r)
	}
	return nil
}

func (a *app) cmdDecide(ctx context.Context, args []string, approve bool) error {
	verb := "reject"
	if approve {
		verb = "approve"
	}
	fs := a.flags(verb, verb+" RUN --by NAME --reason TEXT [--json]",
		fmt.Sprintf("imsfeed %s 17 --by \"Kari Nordmann\" --reason \"confirmed with the SIS vendor\"", verb))
	by := fs.String("by", "", "who decides (recorded and mailed)")
	reason := fs.String("reason", "", "why (recorded and mailed)")
	asJSON := fs.Bool("json", false, "print one JSON document")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	id, err := runID(verb, pos)
	if err != nil {
		return err
	}
	if *by == "" || *reason == "" {
		return usagef("%s: --by NAME and --reason TEXT are required", verb)
	}
	if err := a.open(ctx); err != nil {
		return err
	}
	d := importer.Decision{RunID: id, By: *by, Reason: *reason}
	var r *runs.Run
	if approve {
		im := a.importer()
		stop := a.showProgress(ctx, im, *asJSON)
		r, err = im.Approve(ctx, d)
		stop()
	} else {
		r, err = a.importer().Reject(ctx, d)
	}
	if err != nil {
		if *asJSON {
			a.printRefusal(ctx, id, err)
		}
		return err
	}
	return a.printRunResult(r, *asJSON)
}

// printRefusal is --json's one document for a decision or an undo that was refused (the run
// superseded, decided or undone already, runs applied after it, the state changed, the lock
// busy): the run as it is now, with why in its "error", as a failed run says it; a run that
// cannot be read is only its number.
func (a *app) printRefusal(ctx context.Context, id int64, refused error) {
	r, err := a.store.Run(context.WithoutCancel(ctx), id)
	if err != nil {
		r = &runs.Run{ID: id}
	}
	r.Error = &runs.Error{Message: refused.Error()}
	_ = printJSON(a.stdout, normalize(r))
}

func (a *app) cmdUndo(ctx context.Context, args []string) error {
	fs := a.flags("undo", "undo RUN --by NAME --reason TEXT [--cascade] [--json]",
		`imsfeed undo 17 --by "Kari Nordmann" --reason "the SIS exported last year's classes"`)
	by := fs.String("by", "", "who undoes (recorded and mailed)")
	reason := fs.String("reason", "", "why (recorded and mailed)")
	cascade := fs.Bool("cascade", false, "undo the runs applied after RUN first, newest first, in the same transaction")
	asJSON := fs.Bool("json", false, "print one JSON document")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	id, err := runID("undo", pos)
	if err != nil {
		return err
	}
	if *by == "" || *reason == "" {
		return usagef("undo: --by NAME and --reason TEXT are required")
	}
	if err := a.open(ctx); err != nil {
		return err
	}
	im := a.importer()
	stop := a.showProgress(ctx, im, *asJSON)
	r, err := im.Undo(ctx, importer.UndoRequest{RunID: id, By: *by, Reason: *reason, Cascade: *cascade})
	stop()
	if err != nil {
		if *asJSON {
			a.printRefusal(ctx, id, err)
		}
		return err
	}
	return a.printRunResult(r, *asJSON)
}

func (a *app) cmdStatus(ctx context.Context, args []string) error {
	fs := a.flags("status", "status --tenant T [--json]", "imsfeed status --tenant northside --json")
	tenant := fs.String("tenant", "", "tenant id")
	asJSON := fs.Bool("json", false, "print one JSON document")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *tenant == "" {
		return usagef("status: --tenant T is required")
	}
	if err := a.openFor(ctx, *tenant); err != nil {
		return err
	}
	st, err := a.store.Status(ctx, *tenant)
	if err != nil {
		return err
	}
	last, err := a.store.LastRun(ctx, *tenant)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if last != nil {
		normalize(last)
	}
	out := struct {
		store.TenantStatus
		LastRun *runs.Run `json:"last_run"`
	}{st, last}
	if *asJSON {
		return printJSON(a.stdout, out)
	}
	fmt.Fprintf(a.stdout, "tenant %s (state version %d)\n  persons      %d active, %d in the trash can\n  groups       %d active, %d archived courses\n  memberships  %d synced, %d manual\n",
		st.Tenant, st.StateVersion, st.Persons.Active, st.Persons.Trashed, st.Groups.Active, st.Groups.Archived, st.Memberships.Synced, st.Memberships.Manual)
	if st.Relations.Active > 0 {
		fmt.Fprintf(a.stdout, "  relations    %d (imsfeed relations --tenant %s)\n", st.Relations.Active, st.Tenant)
	}
	if last != nil {
		fmt.Fprintf(a.stdout, "  last run     %d, %s, %s\n", last.ID, last.Status, runs.TimeText(last.StartedAt, nil))
	} else {
		fmt.Fprintln(a.stdout, "  last run     none yet")
	}
	return nil
}
