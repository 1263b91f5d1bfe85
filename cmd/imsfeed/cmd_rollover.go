package main

import (
	"context"

	"github.com/imsfeed/imsfeed/importer"
)

// cmdRollover plans a school-year rollover and holds it for approval (exit 3 when held).
func (a *app) cmdRollover(ctx context.Context, args []string) error {
	fs := a.flags("rollover", "rollover --tenant T --to YEAR --by NAME --reason TEXT [--json]",
		`imsfeed rollover --tenant northside --to 2027-28 --by "Kari Nordmann" --reason "new school year"`)
	tenant := fs.String("tenant", "", "tenant id")
	to := fs.String("to", "", "the new school year, e.g. 2027-28")
	by := fs.String("by", "", "who asks (recorded and mailed)")
	reason := fs.String("reason", "", "why (recorded and mailed)")
	asJSON := fs.Bool("json", false, "print one JSON document")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *tenant == "" || *to == "" || *by == "" || *reason == "" {
		return usagef("rollover: --tenant T, --to YEAR, --by NAME and --reason TEXT are required")
	}
	if err := a.openFor(ctx, *tenant); err != nil {
		return err
	}
	t, err := a.cfg.Tenant(*tenant)
	if err != nil {
		return usageError{err.Error()}
	}
	run, err := a.importer().Rollover(ctx, t, importer.RolloverParams{To: *to, By: *by, Reason: *reason})
	if err != nil {
		return err
	}
	return a.printRunResult(run, *asJSON)
}
