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

// printRun writes a run for a person: status line, file, counts table, verdict, problems.
func printRun(w io.Writer, r *runs.Run, maxWarnings int) {
	if r.ID == 0 { // a dry run: never recorded, so it has no run number
		fmt.Fprintf(w, "dry run  %s  %s\n", r.Tenant, strings.ToUpper(string(r.Status)))
	} else {
		fmt.Fprintf(w, "run %d  %s  %s\n", r.ID, r.Tenant, strings.ToUpper(string(r.Status)))
	}
	if r.File.Name != "" {
		fmt.Fprintf(w, "  file     %s (%s, sha256 %s)\n", r.File.Name, humanBytes(r.File.Size), short(r.File.SHA256))
	}
	fmt.Fprintf(w, "  started  %s", r.StartedAt.Local().Format("2006-01-02 15:04:05"))
	if d := r.Duration(); d > 0 {
		fmt.Fprintf(w, "  (took %s)", d.Round(time.Millisecond))
	}
	fmt.Fprintln(w)
	if r.Mode != "" {
		fmt.Fprintf(w, "  mode     %s\n", r.Mode)
	}
	if r.Reason != "" {
		fmt.Fprintf(w, "  reason   %s\n", r.Reason)
	}
	if r.Error != nil {
		where := ""
		if r.Error.Line > 0 {
			where = fmt.Sprintf(" (line %d, column %d)", r.Error.Line, r.Error.Column)
		}
		fmt.Fprintf(w, "  error    %s%s\n", r.Error.Message, where)
	}
	if r.Status != runs.Failed && r.Status != runs.Skipped {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "\tbefore\tinserted\tupdated\tdeleted\trestored\tarchived\tafter\t")
		for _, t := range record.Types {
			c := r.Counts.Of(t)
			fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", t, c.Before, c.Inserted, c.Updated, c.Deleted, c.Restored, c.Archived, c.After)
		}
		tw.Flush()
	}
	if len(r.Verdict.Tripped) > 0 {
		fmt.Fprintln(w, "\n  safety limits crossed:")
		for _, t := range r.Verdict.Tripped {
			fmt.Fprintf(w, "    %s\n", t.String())
		}
	}
	if r.Approval != nil {
		fmt.Fprintf(w, "\n  approved by %s at %s: %s\n", r.Approval.By, r.Approval.At.Local().Format("2006-01-02 15:04"), r.Approval.Reason)
	}
	if r.Rejection != nil {
		fmt.Fprintf(w, "\n  rejected by %s at %s: %s\n", r.Rejection.By, r.Rejection.At.Local().Format("2006-01-02 15:04"), r.Rejection.Reason)
	}
	if len(r.Attention) > 0 {
		fmt.Fprintln(w, "\n  attention:")
		for _, n := range r.Attention {
			fmt.Fprintf(w, "    - %s\n", n.Message)
		}
	}
	if len(r.Warnings) > 0 {
		fmt.Fprintf(w, "\n  %d warnings (records skipped, stored counterparts kept):\n", len(r.Warnings))
		for i, x := range r.Warnings {
			if maxWarnings > 0 && i == maxWarnings {
				fmt.Fprintf(w, "    … and %d more (imsfeed show %d)\n", len(r.Warnings)-maxWarnings, r.ID)
				break
			}
			fmt.Fprintf(w, "    line %d:%d %s: %s\n", x.Line, x.Column, x.Key, x.Message)
		}
	}
	switch r.Mail {
	case "outbox":
		fmt.Fprintln(w, "\n  status mail written to the outbox")
	case "queued":
		fmt.Fprintf(w, "\n  status mail NOT sent (%s); it waits in the outbox queue and goes out with the next invocation\n", r.MailError)
	}
}

func short(s string) string {
	if len(s) > 16 {
		return s[:16] + "…"
	}
	return s
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
