package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/store"
)

// cmdES is `imsfeed es log|allow`: the live channel's request log and one-off allowances.
func (a *app) cmdES(ctx context.Context, args []string) error {
	sub, args, err := subcommand("es", args, "log", "allow")
	if err != nil {
		return err
	}
	fs := a.flags("es "+sub, "es log --tenant T [--since DATE|DURATION] [--json] | es allow --tenant T --deletes N --by NAME --reason TEXT",
		"imsfeed es log --tenant northside --since 24h")
	tenant := fs.String("tenant", "", "tenant id")
	since := fs.String("since", "24h", "log: from this time on (RFC 3339, YYYY-MM-DD, or a duration ago such as 24h)")
	asJSON := fs.Bool("json", false, "print one JSON document")
	deletes := fs.Int("deletes", 0, "allow: how many more removals the live channel may apply in the next 24 h")
	by := fs.String("by", "", "allow: who grants it")
	reason := fs.String("reason", "", "allow: why")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *tenant == "" {
		return usagef("es %s: --tenant T is required", sub)
	}
	switch sub {
	case "log", "allow":
	default:
		return usagef("es: unknown subcommand %q (log or allow)", sub)
	}
	from, err := parseSince(*since, time.Now())
	if err != nil {
		return usagef("es log --since: %v", err)
	}
	if sub == "allow" && (*deletes <= 0 || *by == "" || *reason == "") {
		return usagef("es allow: --deletes N (> 0), --by NAME and --reason TEXT are required")
	}
	if err := a.openFor(ctx, *tenant); err != nil {
		return err
	}
	l, ok := a.store.(store.Live)
	if !ok {
		return fmt.Errorf("es: this store has no live channel")
	}
	if sub == "allow" {
		if err := l.LiveAllow(ctx, *tenant, *deletes, *by, *reason, time.Now()); err != nil {
			return err
		}
		a.log.Info("live deletes allowance granted", "tenant", *tenant, "deletes", *deletes, "by", *by, "reason", *reason)
		if t, err := a.cfg.Tenant(*tenant); err == nil {
			text := fmt.Sprintf("%s allowed the live channel of tenant %s to remove %d more objects within the next 24 hours.\n\nReason: %s\n",
				*by, t.ID, *deletes, *reason)
			if _, err := a.mailer.SendNotice(ctx, mailTenant(t), "live-allowance", fmt.Sprintf("live deletes allowance of %d by %s", *deletes, *by), text); err != nil {
				a.log.Error("allowance mail", "tenant", t.ID, "err", err)
			}
		}
		fmt.Fprintf(a.stdout, "tenant %s: the live channel may remove %d more objects within the next 24 h (granted by %s)\n", *tenant, *deletes, *by)
		return nil
	}
	entries, err := l.LiveEntries(ctx, store.LiveLogParams{Tenant: *tenant, Since: from, Limit: 100000})
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(entries)
	}
	if len(entries) == 0 {
		fmt.Fprintf(a.stdout, "no live requests for tenant %s since %s\n", *tenant, runs.TimeText(from, nil))
		return nil
	}
	// ID, because a repeat's description names the request it repeats ("repeat of request 7");
	// times in the machine's zone with its name, as `imsfeed runs` writes them.
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTIME\tDIALECT\tOPERATION\tMESSAGE ID\tKEYS\tOUTCOME\tDURATION\tVERSION\tDESCRIPTION")
	for _, e := range entries {
		outcome := e.CodeMajor
		if e.CodeMinor != "" && e.CodeMinor != "fullsuccess" {
			outcome += "/" + e.CodeMinor
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", e.ID, runs.TimeText(e.At, nil), e.Dialect, e.Operation, cell(e.MessageID),
			cell(strings.Join(e.Keys, " ")), outcome, e.Duration.Round(time.Microsecond), e.StateVersion, cell(e.Description))
	}
	return tw.Flush()
}

// cell is a client's text on one table cell: a tab, a line break or another control character
// (which would shift the columns or drive the terminal) becomes a space, runs of space one.
func cell(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }), " ")
}

// parseSince reads an RFC 3339 time, a YYYY-MM-DD day (local midnight) or a duration ago.
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02", s, time.Local); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time (RFC 3339), a day (YYYY-MM-DD) or a duration (24h)", s)
}
