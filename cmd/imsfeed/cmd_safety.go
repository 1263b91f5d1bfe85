package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"go.yaml.in/yaml/v3"

	"github.com/imsfeed/imsfeed/safety"
	"github.com/imsfeed/imsfeed/store"
)

// backtestRuns caps the run records the backtest reads (newest first): years of nights.
const backtestRuns = 5000

func (a *app) cmdSafety(ctx context.Context, args []string) error {
	sub, args, err := subcommand("safety", args, "backtest")
	if err != nil {
		return err
	}
	if sub != "backtest" {
		return usagef("safety: unknown subcommand %q (backtest)", sub)
	}
	fs := a.flags("safety backtest", "safety backtest --tenant T [--policy FILE] [--last N] [--json]",
		"imsfeed safety backtest --tenant northside --policy proposed.yaml --last 90")
	tenant := fs.String("tenant", "", "tenant id")
	policyFile := fs.String("policy", "", "a proposed policy: YAML shaped as the tenant's safety: block (default: the tenant's own)")
	last := fs.Int("last", 0, "only the last N runs the filter judged (0: all stored)")
	asJSON := fs.Bool("json", false, "print one JSON document")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *tenant == "" {
		return usagef("safety backtest: --tenant T is required")
	}
	if *last < 0 {
		return usagef("safety backtest: --last must be 0 or more")
	}
	if err := a.openFor(ctx, *tenant); err != nil {
		return err
	}
	t, err := a.cfg.Tenant(*tenant)
	if err != nil {
		return usageError{err.Error()}
	}
	p := t.Safety
	if *policyFile != "" {
		if p, err = readPolicy(*policyFile); err != nil {
			return err
		}
	}
	list, err := a.store.ListRuns(ctx, store.ListRunsParams{Tenant: t.ID, Limit: backtestRuns})
	if err != nil {
		return err
	}
	history := make([]safety.Past, 0, len(list))
	for i := len(list) - 1; i >= 0; i-- { // oldest first
		history = append(history, list[i].Past())
	}
	out := struct {
		Tenant string `json:"tenant"`
		Policy string `json:"policy"` // the file, or "tenant"
		safety.Backtest
		Suggestion *safety.Suggestion `json:"suggestion,omitempty"`
	}{Tenant: t.ID, Policy: "tenant", Backtest: safety.Replay(history, p, *last)}
	if *policyFile != "" {
		out.Policy = *policyFile
	} else {
		s := safety.Suggest(history, p, *last)
		out.Suggestion = &s
	}
	if *asJSON {
		return printJSON(a.stdout, out)
	}
	w := a.stdout
	fmt.Fprintf(w, "%d runs of %s replayed through the %s policy; %d would change:\n", out.Runs, t.ID, map[bool]string{true: "proposed", false: "tenant's"}[*policyFile != ""], len(out.Changed))
	for _, c := range out.Changed {
		fmt.Fprintf(w, "  run %d (%s): %s → %s\n", c.Run, c.Outcome, verdictWord(c.WasHeld, c.Was), verdictWord(c.Held, c.Tripped))
	}
	if s := out.Suggestion; s != nil {
		fmt.Fprintln(w, "\nNightly percentages (nearest rank; runs with base 0 left out), and a suggested max_percent:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "TYPE\tOP\tNIGHTS\tMEDIAN\tP95\tP99\tMAX\tLIMIT\tSUGGESTED\tHOLDS REJECTED\tCANNOT HOLD")
		for _, sp := range s.Spreads {
			if sp.Nights == 0 {
				continue
			}
			sug := "-"
			if sp.Suggested != nil {
				sug = pctString(*sp.Suggested)
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", sp.Type, sp.Op, sp.Nights, pctString(sp.Median), pctString(sp.P95),
				pctString(sp.P99), pctString(sp.Max), limitString(sp.Limit), sug, runList(sp.Holds), runList(sp.Misses))
		}
		tw.Flush()
		fmt.Fprintf(w, "With the suggested limits: normal nights held %s; rejected or undone runs passed %s.\n", runList(s.HeldNormal), runList(s.MissedRejected))
	}
	fmt.Fprintln(w, "\nThe window is rebuilt from the runs as they happened: a run the policy would judge otherwise does not change the later runs' bases or windows.")
	return nil
}

// readPolicy reads a proposed policy: a safety: block, with or without the "safety:" key.
func readPolicy(file string) (safety.Policy, error) {
	src, err := os.ReadFile(file)
	if err != nil {
		return safety.Policy{}, usagef("safety backtest: %v", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return safety.Policy{}, usagef("%s: %v", file, err)
	}
	p := safety.DefaultPolicy()
	n := &doc
	if len(doc.Content) == 1 {
		n = doc.Content[0]
	}
	if n.Kind == yaml.MappingNode && len(n.Content) == 2 && n.Content[0].Value == "safety" {
		n = n.Content[1]
	}
	if len(doc.Content) == 0 {
		return p, nil
	}
	if err := n.Decode(&p); err != nil {
		return safety.Policy{}, usagef("%s: %v", file, err)
	}
	return p, nil
}

func verdictWord(held bool, trips []safety.Trip) string {
	if !held {
		return "passed"
	}
	var s []string
	for _, t := range trips {
		if t.Count > 0 || t.Base > 0 {
			s = append(s, t.String())
		}
	}
	if len(s) == 0 {
		return "held"
	}
	return "held (" + strings.Join(s, ", ") + ")"
}

func pctString(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) + "%" }

func limitString(l safety.Limit) string {
	var s []string
	if l.MaxPercent != nil {
		s = append(s, pctString(*l.MaxPercent))
	}
	if l.MaxCount != nil {
		s = append(s, strconv.Itoa(*l.MaxCount))
	}
	if len(s) == 0 {
		return "off"
	}
	return strings.Join(s, " / ")
}

func runList(ids []int64) string {
	if len(ids) == 0 {
		return "none"
	}
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(s, ",")
}
