// Command imsfeed imports a school owner's nightly IMS Enterprise 1.1 export into the tenant's
// state, holds suspiciously large changes for an operator, and mails a status log of every
// attempt. See README.md; `imsfeed help` lists the commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/imsfeed/imsfeed/importer"
)

// Exit codes: a contract with schedulers and scripts.
const (
	exitOK     = 0 // completed, skipped, planned, ok
	exitFailed = 1 // a run failed, or a command could not do what was asked
	exitUsage  = 2 // bad flags, arguments or configuration
	exitHeld   = 3 // held by the safety filter

	exitInterrupted = 130 // SIGINT or SIGTERM, as shells report 128+2
)

// usageError is a mistake in how imsfeed was called (exit 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// exitError carries a chosen exit code with no further message (the command printed its result).
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(importer.DefaultMemoryLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches and maps the outcome to an exit code in one place.
func run(ctx context.Context, args []string, stdout, stderr *os.File) int {
	app, rest, err := newApp(args, stdout, stderr)
	if err == nil {
		err = app.dispatch(ctx, rest)
		app.close()
	}
	var ue usageError
	var ee exitError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "imsfeed:", err)
		return exitUsage
	case errors.Is(err, errHelp):
		return exitOK
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(stderr, "imsfeed: interrupted")
		return exitInterrupted
	default:
		fmt.Fprintln(stderr, "imsfeed:", err)
		return exitFailed
	}
}
