// Command bench holds imsfeed's large benchmarks (`make bench`, scripts/bench.sh).
//
// Each measurement is a case (cases.go): a function over one input file. A case always runs in
// a child process of its own, so that its peak RSS (the child's rusage maxrss) is its alone:
//
//	bench table [-runs N] [-cases tokens,read] FILE...   run cases as children; print a table
//	bench case NAME FILE                                 run one case here; print its JSON result
//	bench list                                           list the cases
//	bench cleanup FILE                                   drop what the import cases made for FILE
//	bench live [-seconds N]                              the live channel's requests/s and latency (live.go)
//
// To add a benchmark, add a case to the cases table; `table` measures it like the others and
// shows its time relative to the tokens case. The import cases (import.go) run the real importer
// into PostgreSQL or SQLite: an initial load, an unchanged re-import and a 1 % change.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/imsfeed/imsfeed/importer"
)

// errUsage is a command-line mistake: exit code 2.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	switch {
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

const usage = `usage: bench table [-runs N] [-cases a,b] [-check FILE [-tolerance 1.3] [-rss-tolerance 1.2] [-update]] FILE...
       bench case NAME FILE
       bench list
       bench cleanup FILE
       bench live [-seconds N] [-stores sqlite,postgres] [-ops createPersons] [-cpuprofile FILE] [-check FILE [-tolerance 1.3] [-update]]`

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: %s", errUsage, usage)
	}
	switch args[0] {
	case "table":
		fs := flag.NewFlagSet("table", flag.ContinueOnError)
		runs := fs.Int("runs", 1, "runs of each case; the fastest counts, the largest RSS counts")
		names := fs.String("cases", "tokens,read,read-validate,read-event", "cases to run, comma-separated; tokens is the baseline")
		checkFile := fs.String("check", "", "compare each case's ratio and peak RSS with those recorded in this JSON file; exit 1 on a regression")
		tolerance := fs.Float64("tolerance", 1.3, "with -check: how much higher than recorded a ratio may be (1.3: 30 %)")
		rssTolerance := fs.Float64("rss-tolerance", 1.2, "with -check: how much higher than recorded a peak RSS may be")
		update := fs.Bool("update", false, "with -check: record the figures measured in the file instead (each case measured twice, the better kept)")
		if err := fs.Parse(args[1:]); err != nil || fs.NArg() == 0 || *runs < 1 {
			return fmt.Errorf("%w: %s", errUsage, usage)
		}
		self, err := os.Executable()
		if err != nil {
			return err
		}
		var check *ratioCheck
		if *checkFile != "" {
			check = &ratioCheck{path: *checkFile, tolerance: *tolerance, rssTolerance: *rssTolerance, update: *update}
		}
		return checkedTable(ctx, os.Stdout, childRunner(self), strings.Split(*names, ","), fs.Args(), *runs, check)
	case "case":
		if len(args) != 3 {
			return fmt.Errorf("%w: %s", errUsage, usage)
		}
		// A case runs as the imsfeed binary would: under its default soft memory limit.
		if os.Getenv("GOMEMLIMIT") == "" {
			debug.SetMemoryLimit(importer.DefaultMemoryLimit)
		}
		res, err := runCase(ctx, args[1], args[2])
		if err != nil {
			return err
		}
		return json.NewEncoder(os.Stdout).Encode(res)
	case "list":
		for _, c := range cases {
			fmt.Printf("%-16s %s\n", c.name, c.about)
		}
		return nil
	case "live":
		fs := flag.NewFlagSet("live", flag.ContinueOnError)
		secs := fs.Float64("seconds", 3, "how long each measurement runs")
		var o liveOptions
		fs.StringVar(&o.stores, "stores", "", "stores to measure, comma-separated (sqlite,postgres; default: both)")
		fs.StringVar(&o.ops, "ops", "", "operations to measure, comma-separated (readPerson,replacePerson,createPersons,deleteMembership; default: all)")
		fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the measured requests to this file")
		checkFile := fs.String("check", "", "compare each write's CPU per request (as a ratio to the bare handler's) with those recorded in this JSON file; exit 1 on a regression")
		tolerance := fs.Float64("tolerance", 1.3, "with -check: how much worse than recorded still passes")
		update := fs.Bool("update", false, "with -check: record the figures measured in the file instead (each write measured twice, the better kept)")
		if err := fs.Parse(args[1:]); err != nil {
			return fmt.Errorf("%w: %s", errUsage, usage)
		}
		if *checkFile != "" {
			o.check = &ratioCheck{path: *checkFile, tolerance: *tolerance, update: *update}
		}
		o.d = time.Duration(*secs * float64(time.Second))
		return benchLive(ctx, os.Stdout, o)
	case "cleanup":
		if len(args) != 2 {
			return fmt.Errorf("%w: %s", errUsage, usage)
		}
		return cleanupImports(ctx, args[1], os.Getenv(envPostgres))
	}
	return fmt.Errorf("%w: unknown command %q\n%s", errUsage, args[0], usage)
}
