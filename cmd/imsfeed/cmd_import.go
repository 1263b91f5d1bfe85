package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/importer"
	"github.com/imsfeed/imsfeed/importer/ims"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/runs"
)

// validateResult is the `validate --json` contract.
type validateResult struct {
	File     string           `json:"file"`
	Counts   map[string]int   `json:"counts"`
	Warnings []record.Warning `json:"warnings"`
	Error    *runs.Error      `json:"error"`
}

type countingHandler struct{}

func (countingHandler) Person(*record.Person) error         { return nil }
func (countingHandler) Group(*record.Group) error           { return nil }
func (countingHandler) Membership(*record.Membership) error { return nil }

func (a *app) cmdValidate(ctx context.Context, args []string) error {
	fs := a.flags("validate", "validate [--lenient] [--json] FILE", "imsfeed validate --lenient /srv/sis/outgoing/export-2026-11-22.xml")
	lenient := fs.Bool("lenient", false, "repair a bare & and junk after </enterprise>, each repair a warning")
	asJSON := fs.Bool("json", false, "print one JSON document")
	mode := fs.String("mode", "auto", "snapshot, event or auto: duplicate keys are fatal in a snapshot")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("validate: want exactly one FILE")
	}
	if _, err := os.Stat(pos[0]); err != nil {
		return usagef("validate: %v", err) // as import and plan: the argument names no file
	}
	f, err := os.Open(pos[0])
	if err != nil {
		return err
	}
	defer f.Close()
	res, rerr := ims.Read(ctx, f, pos[0], ims.Options{Lenient: *lenient, Mode: ims.Mode(*mode)}, countingHandler{})
	out := validateResult{File: pos[0], Counts: map[string]int{}, Warnings: []record.Warning{}}
	if res != nil {
		for _, t := range record.AllTypes {
			out.Counts[t.String()] = res.Counts[t]
		}
		out.Warnings = append(out.Warnings, res.Warnings...)
	}
	if rerr != nil {
		var ie *ims.Error
		if errors.As(rerr, &ie) {
			out.Error = &runs.Error{Line: ie.Line, Column: ie.Column, Key: ie.Key, Message: ie.Error()}
		} else {
			out.Error = &runs.Error{Message: rerr.Error()}
		}
	}
	if *asJSON {
		if err := printJSON(a.stdout, out); err != nil {
			return err
		}
	} else {
		w := a.stdout
		head := pos[0]
		if out.Error != nil {
			head += " (what was read before the error)"
		}
		fmt.Fprintf(w, "%s\n  persons      %d\n  groups       %d\n  memberships  %d (member × role)\n", head,
			out.Counts["persons"], out.Counts["groups"], out.Counts["memberships"])
		if res != nil && res.Properties.DataSource != "" {
			fmt.Fprintf(w, "  datasource   %s\n", res.Properties.DataSource)
		}
		for _, x := range out.Warnings {
			fmt.Fprintf(w, "  warning  line %d:%d %s: %s\n", x.Line, x.Column, x.Key, x.Message)
		}
		if out.Error != nil {
			fmt.Fprintf(w, "  NOT READABLE: %s\n", out.Error.Message)
		} else {
			fmt.Fprintln(w, "  readable")
		}
	}
	if out.Error != nil {
		return exitError{exitFailed}
	}
	return nil
}

func (a *app) cmdImport(ctx context.Context, args []string, dryRun bool) error {
	verb, example := "import", "imsfeed import --tenant northside /tmp/export.xml"
	if dryRun {
		verb, example = "plan", "imsfeed plan --tenant northside --json /tmp/export.xml"
	}
	fs := a.flags(verb, verb+" --tenant T [--json] FILE", example)
	tenant := fs.String("tenant", "", "tenant id")
	asJSON := fs.Bool("json", false, "print one JSON document")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *tenant == "" || len(pos) != 1 {
		return usagef("%s: want --tenant T and exactly one FILE (e.g. %s)", verb, example)
	}
	if _, err := os.Stat(pos[0]); err != nil {
		return usagef("%s: %v", verb, err)
	}
	if err := a.openFor(ctx, *tenant); err != nil {
		var se storeError
		if errors.As(err, &se) && !dryRun {
			// Still an attempt, and mailed: no mail means no attempt.
			t, terr := a.cfg.Tenant(*tenant)
			if terr != nil {
				return usageError{terr.Error()}
			}
			file := runs.File{Name: filepath.Base(pos[0])}
			if fi, err := os.Stat(pos[0]); err == nil {
				file.Size = fi.Size()
			}
			return a.unreachable(ctx, []*config.Tenant{t}, file, se, *asJSON, false)
		}
		return err
	}
	t, err := a.cfg.Tenant(*tenant)
	if err != nil {
		return usageError{err.Error()}
	}
	im := a.importer()
	stop := a.showProgress(ctx, im, *asJSON)
	run, err := im.ImportFile(ctx, t, pos[0], importer.ImportOptions{DryRun: dryRun})
	stop()
	if err != nil {
		return err
	}
	return a.printRunResult(run, *asJSON)
}

// printRunResult prints a run and turns its status into the exit code.
func (a *app) printRunResult(run *runs.Run, asJSON bool) error {
	if asJSON {
		if err := printJSON(a.stdout, normalize(run)); err != nil {
			return err
		}
	} else {
		printRun(a.stdout, run, 20)
		a.nextSteps(run)
	}
	if run.Interrupted() {
		return exitError{exitInterrupted}
	}
	if code := run.Status.ExitCode(); code != 0 {
		return exitError{code}
	}
	return nil
}

// nextSteps tells a person what to type next.
func (a *app) nextSteps(run *runs.Run) {
	cfg := ""
	if a.configFlag != "" {
		cfg = "--config " + a.configFlag + " "
	}
	w := a.stdout
	switch run.Status {
	case runs.Held:
		switch {
		case run.Mode == runs.ModeRollover: // held whatever its size, not by the safety filter
			fmt.Fprintf(w, "\nHeld for an operator's approval, as every school-year rollover is: nothing was applied. To look closer and decide:\n")
		case run.Verdict.OnTrip == "hold-removals":
			fmt.Fprintf(w, "\nHeld by the safety filter: inserts and updates were applied; the removals wait. To look closer and decide:\n")
		default:
			fmt.Fprintf(w, "\nHeld by the safety filter: nothing was applied. To look closer and decide:\n")
		}
		fmt.Fprintf(w, "  imsfeed %sshow %d --plan | less\n", cfg, run.ID)
		fmt.Fprintf(w, "  imsfeed %sapprove %d --by \"$USER\" --reason \"...\"\n", cfg, run.ID)
		fmt.Fprintf(w, "  imsfeed %sreject %d --by \"$USER\" --reason \"...\"\n", cfg, run.ID)
	case runs.Failed:
		switch {
		case run.Unrecorded:
			fmt.Fprintf(w, "\nNothing was read or changed: the state store could not be reached (see `store` in the config).\n")
		case run.Interrupted():
			fmt.Fprintf(w, "\nInterrupted: nothing was applied.\n")
		case run.FileFault():
			fmt.Fprintf(w, "\nNothing was changed. Check the file with: imsfeed validate FILE\n")
		default:
			fmt.Fprintf(w, "\nNothing was changed.\n")
		}
	case runs.Planned:
		fmt.Fprintf(w, "\nDry run: nothing was applied, recorded or mailed.\n")
	}
}

// showProgress shows the run's phases, the read and the apply on one line of the terminal,
// and routes log lines above it, until the returned stop; never with --json or when stderr is
// a file or a pipe.
func (a *app) showProgress(ctx context.Context, im *importer.Importer, asJSON bool) (stop func()) {
	if asJSON || !a.isTerminal() {
		return func() {}
	}
	p := newProgress(a.stderr, time.Now)
	im.Progress, im.Status, im.Applying = p.bytes, p.status, p.applying
	a.logw.set(p)
	end := p.run(ctx)
	return func() {
		end()
		a.logw.set(a.stderr)
		im.Progress, im.Status, im.Applying = nil, nil, nil
	}
}
