package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/imsfeed/imsfeed/store"
)

// cmdCheck compares a tenant's compact state index (what an import reads in place of every
// person and membership row) with the rows, and rebuilds it from the rows when they differ.
// Exit 0: the index agrees (or was only stale, which the next import would have mended too);
// exit 1: it disagreed with the rows, which is a writer's bug worth reporting.
func (a *app) cmdCheck(ctx context.Context, args []string) error {
	fs := a.flags("check", "check --tenant T [--dry-run] [--json]", "imsfeed check --tenant northside")
	tenant := fs.String("tenant", "", "tenant id")
	dryRun := fs.Bool("dry-run", false, "only report; do not rebuild the index")
	asJSON := fs.Bool("json", false, "print one JSON document")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *tenant == "" {
		return usagef("check: --tenant T is required")
	}
	if err := a.openFor(ctx, *tenant); err != nil {
		return err
	}
	ic, ok := a.store.(store.IndexChecker)
	if !ok {
		return errors.New("check: this store keeps no state index")
	}
	r, err := ic.CheckIndex(ctx, *tenant, !*dryRun)
	if err != nil {
		return err
	}
	disagreed := r.Missing+r.Extra+r.Different > 0 || r.Unreadable != ""
	if *asJSON {
		if err := printJSON(a.stdout, r); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(a.stdout, "tenant %s (state version %d): %d persons and %d memberships in the rows\n", r.Tenant, r.StateVersion, r.Persons, r.Memberships)
		switch {
		case disagreed:
			fmt.Fprintf(a.stdout, "  the state index disagrees with the rows: %d missing, %d extra, %d different\n", r.Missing, r.Extra, r.Different)
			if r.Unreadable != "" {
				fmt.Fprintf(a.stdout, "  unreadable: %s\n", r.Unreadable)
			}
			for _, e := range r.Examples {
				fmt.Fprintf(a.stdout, "    %s\n", e)
			}
		case r.Stale():
			fmt.Fprintf(a.stdout, "  the state index describes version %d, not %d: stale, so imports read the rows\n", r.IndexVersion, r.StateVersion)
		default:
			fmt.Fprintln(a.stdout, "  the state index agrees with the rows")
		}
		switch {
		case r.Repaired:
			fmt.Fprintln(a.stdout, "  rebuilt the state index from the rows")
		case !r.OK():
			fmt.Fprintln(a.stdout, "  nothing changed (--dry-run); run without it to rebuild the index from the rows")
		}
	}
	if disagreed {
		return exitError{exitFailed}
	}
	return nil
}
