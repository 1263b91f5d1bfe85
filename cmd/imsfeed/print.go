package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/safety"
)

// printJSON writes one JSON document: the --json contract.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// normalize makes empty lists JSON [] rather than null, for scripts.
func normalize(r *runs.Run) *runs.Run {
	if r.Warnings == nil {
		r.Warnings = []record.Warning{}
	}
	if r.Attention == nil {
		r.Attention = []change.Notice{}
	}
	if r.Verdict.Tripped == nil {
		r.Verdict.Tripped = []safety.Trip{}
	}
	return r
}

// digestRun is what `run` prints for a tenant fed only live: there is no file to import, so no
// run is recorded (its number is 0, like a dry run's), but the document has the run's shape,
// status skipped and the reason, so a script reading `run --json` needs no second case.
type digestRun struct {
	*runs.Run
	// LiveDigest is "mailed" when the live digest went out, "not mailed" when it did not
	// (the tenant is paused, or this slot's digest went out already).
	LiveDigest string `json:"live_digest"`
}

func liveDigest(tenant string, mailed bool, now time.Time) digestRun {
	d := digestRun{Run: normalize(&runs.Run{Tenant: tenant, Status: runs.Skipped, StartedAt: now, FinishedAt: &now}), LiveDigest: "not mailed"}
	d.Reason = "fed only live (no nightly file): the live digest was not mailed (paused, or sent already)"
	if mailed {
		d.LiveDigest, d.Reason = "mailed", "fed only live (no nightly file): the live digest was mailed"
	}
	return d
}

// printRun writes a run for a person: status line, file, counts table, verdict, problems.
func printRun(w io.Writer, r *runs.Run, maxWarnings int) {
	if r.Unrecorded { // the store could not be reached: no run number
		fmt.Fprintf(w, "attempt (not recorded)  %s  %s\n", r.Tenant, strings.ToUpper(string(r.Status)))
	} else if r.ID == 0 { // a dry run: never recorded, so it has no run number
		fmt.Fprintf(w, "dry run  %s  %s\n", r.Tenant, strings.ToUpper(string(r.Status)))
	} else {
		fmt.Fprintf(w, "run %d  %s  %s\n", r.ID, r.Tenant, strings.ToUpper(string(r.Status)))
	}
	if r.HasFile() {
		fmt.Fprintf(w, "  file     %s (%s, sha256 %s)\n", r.File.Name, runs.SizeText(r.File.Size), short(r.File.SHA256))
	}
	fmt.Fprintf(w, "  started  %s", runs.TimeText(r.StartedAt, nil))
	switch d := r.Duration(); {
	case d > 0 && r.FoundDeadAt != nil:
		fmt.Fprintf(w, "  (worked %s, up to its last sign of life at %s)", d.Round(time.Millisecond), runs.TimeText(*r.AliveAt, nil))
	case d > 0:
		fmt.Fprintf(w, "  (took %s)", d.Round(time.Millisecond))
	}
	fmt.Fprintln(w)
	if r.FoundDeadAt != nil {
		fmt.Fprintf(w, "  found dead at %s by the tenant's next run: its process had ended\n", runs.TimeText(*r.FoundDeadAt, nil))
	}
	switch d, ok := r.FetchWait(); {
	case ok && d > 0:
		fmt.Fprintf(w, "  fetch    waited %s for the file to settle\n", d)
	case ok && r.File.Name != "":
		fmt.Fprintln(w, "  fetch    taken at once (no settle wait)")
	}
	if r.Mode != "" {
		fmt.Fprintf(w, "  mode     %s\n", r.Mode)
	}
	if r.Reason != "" {
		fmt.Fprintf(w, "  reason   %s\n", r.Reason)
	}
	if r.Error != nil {
		fmt.Fprintf(w, "  error    %s\n", r.Error.Text(r.File.Name))
	}
	if r.Status != runs.Failed && r.Status != runs.Skipped {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "\tbefore\tinserted\tupdated\tdeleted\trestored\tarchived\tafter\t")
		for _, t := range record.AllTypes {
			c := r.Counts.Of(t)
			if t == record.Relations && *c == (change.TypeCounts{}) {
				continue // no relations in this tenant's files
			}
			fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", t, c.Before, c.Inserted, c.Updated, c.Deleted, c.Restored, c.Archived, c.After)
		}
		tw.Flush()
		if n := r.Counts.Persons.Deleted; n > 0 {
			fmt.Fprintf(w, "  persons deleted: %d trashed (restorable: imsfeed trash list --tenant %s)\n", n, r.Tenant)
		}
		if n := r.Counts.Memberships.Archived; n > 0 {
			fmt.Fprintf(w, "  memberships archived: %d kept as manual (their course was archived)\n", n)
		}
	}
	if len(r.Verdict.Tripped) > 0 {
		fmt.Fprintln(w, "\n  safety limits crossed:")
		for _, t := range r.Verdict.Tripped {
			fmt.Fprintf(w, "    %s\n", t.String())
		}
	}
	if r.Approval != nil {
		fmt.Fprintf(w, "\n  approved by %s at %s: %s\n", r.Approval.By, runs.TimeText(r.Approval.At, nil), r.Approval.Reason)
		if d := r.ApprovalWait(); d > 0 { // kept apart from the import's own duration above
			fmt.Fprintf(w, "  held %s before the approval\n", d.Round(time.Second))
		}
	}
	if r.Undo != nil {
		fmt.Fprintf(w, "\n  undone by %s at %s: %s\n", r.Undo.By, runs.TimeText(r.Undo.At, nil), r.Undo.Reason)
	}
	if r.UndoneBy != 0 {
		fmt.Fprintf(w, "\n  undone: run %d put back the state from before this run\n", r.UndoneBy)
	}
	if r.Rejection != nil {
		fmt.Fprintf(w, "\n  rejected by %s at %s: %s\n", r.Rejection.By, runs.TimeText(r.Rejection.At, nil), r.Rejection.Reason)
	}
	if len(r.Attention) > 0 {
		fmt.Fprintln(w, "\n  attention:")
		for _, n := range r.Attention {
			fmt.Fprintf(w, "    - %s\n", n.Message)
		}
	}
	printWarnings(w, r, maxWarnings)
	switch r.Mail {
	case "outbox":
		fmt.Fprintln(w, "\n  status mail written to the outbox")
	case "queued":
		fmt.Fprintf(w, "\n  status mail NOT sent (%s); it waits in the outbox queue and goes out with the next invocation\n", r.MailError)
	}
}

// warningKinds are the warning sections, in order: a repair is not a skipped record.
var warningKinds = []struct{ kind, title string }{
	{record.WarnSkipped, "records skipped (stored counterparts kept)"},
	{record.WarnRepaired, "repaired in lenient mode (nothing skipped)"},
	{record.WarnIgnored, "ignored (the records themselves were read)"},
}

// printWarnings lists the run's warnings by kind, each list cut at max (0: no limit).
func printWarnings(w io.Writer, r *runs.Run, max int) {
	for _, k := range warningKinds {
		var list []record.Warning
		for _, x := range r.Warnings {
			if x.Class() == k.kind {
				list = append(list, x)
			}
		}
		if len(list) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n  %d %s:\n", len(list), k.title)
		for i, x := range list {
			if max > 0 && i == max {
				fmt.Fprintf(w, "    … and %d more (imsfeed show %d)\n", len(list)-max, r.ID)
				break
			}
			key := ""
			if x.Key != "" {
				key = " " + x.Key
			}
			fmt.Fprintf(w, "    line %d:%d%s: %s\n", x.Line, x.Column, key, x.Message)
		}
	}
}

func short(s string) string {
	if len(s) > 16 {
		return s[:16] + "…"
	}
	return s
}
