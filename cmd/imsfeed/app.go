package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/mattn/go-isatty"

	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/console"
	"github.com/imsfeed/imsfeed/importer"
	"github.com/imsfeed/imsfeed/mailer"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/store"
	"github.com/imsfeed/imsfeed/store/storeurl"
)

var errHelp = errors.New("help shown")

// app is what every command shares: global flags, config, store, mailer, logger.
type app struct {
	stdout, stderr *os.File
	configFlag     string
	configFile     string // the config file loaded, absolute ("" for the embedded default)
	logFormat      string
	logLevel       string
	verbose        bool
	// level is the log's level: serve raises a terminal's quiet default back to INFO.
	level         *slog.LevelVar
	levelExplicit bool
	// logw is where log lines go: stderr, or through the progress line while one is drawn.
	logw *switchWriter

	cfg    *config.Config
	store  store.Store
	mailer *mailer.Mailer
	log    *slog.Logger
	// counters, in serve, count applied changes and live requests for /metrics.
	counters *console.Counters

	// describe, when set, receives each command's flags instead of running it (for the
	// completions and the man page; see describeAll).
	describe func(*cmdFlags)
}

func newApp(args []string, stdout, stderr *os.File) (*app, []string, error) {
	a := &app{stdout: stdout, stderr: stderr}
	fs := flag.NewFlagSet("imsfeed", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVar(&a.configFlag, "config", "", "config file")
	fs.StringVar(&a.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&a.logLevel, "log-level", "", "log level: debug, info, warn, error (default info; warn on a terminal without -v)")
	fs.BoolVar(&a.verbose, "v", false, "log INFO lines on a terminal too (a terminal shows only warnings and errors by default)")
	version := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usageText())
			return nil, nil, errHelp
		}
		return nil, nil, usagef("%v (imsfeed help lists the commands and flags)", err)
	}
	if *version {
		fmt.Fprint(stdout, versionText())
		return nil, nil, errHelp
	}
	if fs.NArg() == 0 {
		fmt.Fprint(stderr, usageText())
		return nil, nil, usagef("no command given")
	}
	if err := a.setLogger(); err != nil {
		return nil, nil, err
	}
	return a, fs.Args(), nil
}

// setLogger (re)makes the logger from --log-format, --log-level and -v, which may come before
// or after the command name. A person at a terminal sees progress and the result; the INFO
// lines are for logs (a service, cron, a pipe) and for -v.
func (a *app) setLogger() error {
	level := slog.LevelInfo
	if a.isTerminal() && !a.verbose {
		level = slog.LevelWarn
	}
	if a.logLevel != "" {
		if err := level.UnmarshalText([]byte(a.logLevel)); err != nil {
			return usagef("--log-level %q: want debug, info, warn or error", a.logLevel)
		}
	}
	if a.level == nil {
		a.level = new(slog.LevelVar)
	}
	a.level.Set(level)
	a.levelExplicit = a.logLevel != "" || a.verbose
	opts := &slog.HandlerOptions{Level: a.level}
	if a.logw == nil {
		a.logw = &switchWriter{w: a.stderr}
	}
	switch a.logFormat {
	case "text":
		a.log = slog.New(slog.NewTextHandler(a.logw, opts))
	case "json":
		a.log = slog.New(slog.NewJSONHandler(a.logw, opts))
	default:
		return usagef("--log-format %q: want text or json", a.logFormat)
	}
	return nil
}

// dispatch runs the command the table names; `imsfeed help COMMAND` is COMMAND --help.
func (a *app) dispatch(ctx context.Context, args []string) error {
	name, rest := args[0], args[1:]
	if isHelp(name) {
		if len(rest) == 0 {
			fmt.Fprint(a.stdout, usageText())
			return nil
		}
		name, rest = rest[0], []string{"--help"}
	}
	c, ok := findCommand(name)
	if !ok {
		return usagef("unknown command %q (imsfeed help lists them)", name)
	}
	return c.run(a, ctx, rest)
}

// loadConfig applies the precedence --config > $IMSFEED_CONFIG > ./imsfeed.yaml > embedded.
func (a *app) loadConfig() error {
	if a.cfg != nil {
		return nil
	}
	path := a.configFlag
	if path == "" {
		path = os.Getenv("IMSFEED_CONFIG")
	}
	if path == "" {
		if _, err := os.Stat("imsfeed.yaml"); err == nil {
			path = "imsfeed.yaml"
		}
	}
	var err error
	if path == "" {
		a.cfg, err = config.Default("")
	} else {
		a.cfg, err = config.Load(path)
		if a.configFile, _ = filepath.Abs(path); a.configFile == "" {
			a.configFile = path
		}
	}
	if err != nil {
		return usageError{err.Error()}
	}
	return nil
}

// open loads the config and opens the store and the mailer. Queued mails from earlier
// invocations are sent first, so an SMTP outage loses nothing.
func (a *app) open(ctx context.Context) error {
	if err := a.loadConfig(); err != nil {
		return err
	}
	if a.cfg.Embedded || strings.HasPrefix(a.cfg.Store, "sqlite:") {
		if err := os.MkdirAll(a.cfg.DataDir, 0o700); err != nil {
			return fmt.Errorf("data directory: %w", err)
		}
	}
	// The mailer first: an import whose store cannot be reached is still mailed.
	a.mailer = mailer.New(a.cfg.SMTP, a.cfg.Outbox, a.log)
	st, err := storeurl.Open(ctx, a.cfg.Store)
	if err != nil {
		// The stores name themselves ("postgres store HOST/DB: …", "sqlite store PATH: …"), as
		// do storeurl's errors ("store URL has no scheme", "sqlite:… names host …").
		return storeError{fmt.Errorf("open %w", err)}
	}
	a.store = st
	a.mailer.OnUpdate(func(id int64, r mailer.Result) { a.recordMail(ctx, id, r) })
	if n, err := a.mailer.Flush(ctx); err != nil {
		a.log.Warn("queued status mails still waiting", "err", err)
	} else if n > 0 {
		a.log.Info("sent queued status mails", "count", n)
	}
	return nil
}

// storeError is a store that could not be opened: for an import, a failed attempt that is
// mailed all the same (importer.StoreUnreachable).
type storeError struct{ err error }

func (e storeError) Error() string { return e.err.Error() }
func (e storeError) Unwrap() error { return e.err }

// unreachable mails, for each tenant, an attempt the store could not record, and prints them.
func (a *app) unreachable(ctx context.Context, tenants []*config.Tenant, file runs.File, err error, asJSON, list bool) error {
	im := a.importer()
	worst := exitOK
	var out []*runs.Run
	for _, t := range tenants {
		r := im.StoreUnreachable(ctx, t, file, err)
		worst = worstCode(worst, r.Status.ExitCode())
		out = append(out, normalize(r))
		if !asJSON {
			printRun(a.stdout, r, 5)
		}
	}
	fmt.Fprintln(a.stderr, "imsfeed:", err)
	switch {
	case asJSON && list:
		if out == nil {
			out = []*runs.Run{}
		}
		_ = printJSON(a.stdout, out)
	case asJSON && len(out) == 1:
		_ = printJSON(a.stdout, out[0])
	}
	if worst == exitOK {
		return nil
	}
	return exitError{worst}
}

// openFor is open for a command about one tenant: a tenant the config does not have is a
// usage error (exit 2) naming the configured ones, before anything is opened, so a typo never
// reads as an empty tenant. The embedded default accepts any tenant id. "" checks nothing.
func (a *app) openFor(ctx context.Context, tenant string) error {
	if err := a.loadConfig(); err != nil {
		return err
	}
	if tenant != "" {
		if _, err := a.cfg.Tenant(tenant); err != nil {
			return usageError{err.Error()}
		}
	}
	return a.open(ctx)
}

// recordMail records on a run what became of its queued status mail: sent after all, still
// queued and why, dead-lettered, or unconfirmed.
func (a *app) recordMail(ctx context.Context, id int64, res mailer.Result) {
	if id == 0 {
		return // a mail about an attempt the store could not record
	}
	r, err := a.store.Run(ctx, id)
	if err != nil {
		return // a mail from another store or a purged run: nothing to record
	}
	r.Mail, r.MailError = res.Status, ""
	if res.Err != nil {
		r.MailError = res.Err.Error()
	}
	if err := a.store.SaveRun(ctx, r); err != nil {
		a.log.Warn("record what became of a queued mail", "run", id, "err", err)
	}
}

func (a *app) importer() *importer.Importer {
	im := importer.New(importer.Params{Config: a.cfg, Store: a.store, Mailer: a.mailer, Logger: a.log, ConfigFile: a.configFile})
	if a.counters != nil {
		im.Applied = a.counters.Applied
	}
	return im
}

func (a *app) close() {
	if a.store != nil {
		a.store.Close()
	}
}

func (a *app) isTerminal() bool {
	return isatty.IsTerminal(a.stderr.Fd())
}

// switchWriter is the log's output, switched to the progress line while one is drawn.
type switchWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *switchWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	w := s.w
	s.mu.Unlock()
	return w.Write(b)
}

func (s *switchWriter) set(w io.Writer) {
	s.mu.Lock()
	s.w = w
	s.mu.Unlock()
}
