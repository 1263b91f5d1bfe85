package main

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/importer"
	"github.com/imsfeed/imsfeed/store"
)

func (a *app) printItems(items []store.Item, asJSON bool, empty string) error {
	if asJSON {
		if items == nil {
			items = []store.Item{}
		}
		return printJSON(a.stdout, items)
	}
	if len(items) == 0 {
		fmt.Fprintln(a.stdout, empty)
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tNAME\tSINCE\tRUN")
	for _, it := range items {
		run := fmt.Sprint(it.Run)
		if it.Run == 0 {
			run = "live" // a live request trashed or archived it: no run did
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", it.Key, it.Name, it.Since.Local().Format("2006-01-02 15:04 MST"), run)
	}
	return tw.Flush()
}

func (a *app) cmdTrash(ctx context.Context, args []string) error {
	sub, args, err := subcommand("trash", args, "list", "restore", "purge")
	if err != nil {
		return err
	}
	fs := a.flags("trash "+sub, "trash list|restore|purge --tenant T [KEY ...] [--older-than DURATION] [--by NAME] [--json]",
		"imsfeed trash purge --tenant northside --older-than 90d")
	tenant := fs.String("tenant", "", "tenant id")
	by := fs.String("by", "", "restore, purge: who asks, recorded in the run history and mail (default: the system user)")
	olderThan := new(time.Duration)
	fs.Func("older-than", "purge: persons trashed longer ago than this (e.g. 90d, 36h)", func(v string) (err error) {
		*olderThan, err = config.ParseDuration(v)
		return err
	})
	asJSON := fs.Bool("json", false, "print one JSON document")
	keys, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *tenant == "" {
		return usagef("trash %s: --tenant T is required", sub)
	}
	switch sub {
	case "list", "restore", "purge":
	default:
		return usagef("trash: unknown subcommand %q (list, restore or purge)", sub)
	}
	if err := a.openFor(ctx, *tenant); err != nil {
		return err
	}
	switch sub {
	case "list":
		items, err := a.store.ListTrash(ctx, *tenant)
		if err != nil {
			return err
		}
		return a.printItems(items, *asJSON, "the trash can is empty")
	case "restore":
		if len(keys) == 0 {
			return usagef("trash restore: name the person KEYs to restore")
		}
		run, n, err := a.importer().Operate(ctx, importer.OperatorRequest{Tenant: *tenant, From: importer.Trash, Keys: keys, By: whoAsks(*by)})
		if err != nil {
			return fmt.Errorf("trash restore: %w", err)
		}
		fmt.Fprintf(a.stdout, "restored %d person(s) from the trash can (run %d); the next import re-creates their memberships\n", n, run.ID)
	case "purge":
		if len(keys) == 0 && *olderThan <= 0 {
			return usagef("trash purge: name KEYs or give --older-than DURATION; purging deletes persons for good")
		}
		req := importer.OperatorRequest{Tenant: *tenant, From: importer.Trash, Keys: keys, Purge: true, By: whoAsks(*by)}
		if len(keys) == 0 {
			req.PurgeBefore = time.Now().Add(-*olderThan)
		}
		run, n, err := a.importer().Operate(ctx, req)
		if err != nil {
			return fmt.Errorf("trash purge: %w", err)
		}
		if run == nil {
			fmt.Fprintln(a.stdout, "purged 0 person(s): nothing in the trash can matched")
			return nil
		}
		fmt.Fprintf(a.stdout, "purged %d person(s) from the trash can for good (run %d)\n", n, run.ID)
	}
	return nil
}

func (a *app) cmdArchive(ctx context.Context, args []string) error {
	sub, args, err := subcommand("archive", args, "list", "restore")
	if err != nil {
		return err
	}
	fs := a.flags("archive "+sub, "archive list|restore --tenant T [KEY ...] [--by NAME] [--json]", "imsfeed archive restore --tenant northside MATH-7A")
	tenant := fs.String("tenant", "", "tenant id")
	by := fs.String("by", "", "restore: who asks, recorded in the run history and mail (default: the system user)")
	asJSON := fs.Bool("json", false, "print one JSON document")
	keys, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *tenant == "" {
		return usagef("archive %s: --tenant T is required", sub)
	}
	if sub != "list" && sub != "restore" {
		return usagef("archive: unknown subcommand %q (list or restore)", sub)
	}
	if err := a.openFor(ctx, *tenant); err != nil {
		return err
	}
	if sub == "list" {
		items, err := a.store.ListArchived(ctx, *tenant)
		if err != nil {
			return err
		}
		return a.printItems(items, *asJSON, "no archived courses")
	}
	if len(keys) == 0 {
		return usagef("archive restore: name the course KEYs to restore")
	}
	run, n, err := a.importer().Operate(ctx, importer.OperatorRequest{Tenant: *tenant, From: importer.Archive, Keys: keys, By: whoAsks(*by)})
	if err != nil {
		return fmt.Errorf("archive restore: %w", err)
	}
	fmt.Fprintf(a.stdout, "restored %d course(s) from the archive (run %d); the next import sets their parents and memberships\n", n, run.ID)
	return nil
}

// whoAsks is the --by of an operator's command, else the system user running it.
func whoAsks(by string) string {
	if strings.TrimSpace(by) != "" {
		return by
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username + " (command line)"
	}
	if u := os.Getenv("USER"); u != "" {
		return u + " (command line)"
	}
	return "the command line"
}
