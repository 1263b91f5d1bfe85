package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
)

// command is one entry of the command table. The overview (`imsfeed help`), each command's
// --help, the shell completions and the man page are all made from this table and from the
// flags each command defines, so they cannot disagree.
type command struct {
	name    string
	args    string // what follows the name in the overview
	summary string
	subs    []string // subcommands (trash list|restore|purge); the first is the one described
	files   bool     // the positional arguments are files (for completion)
	run     func(a *app, ctx context.Context, args []string) error
}

// commandTable lists every command in the order the overview shows them.
func commandTable() []command {
	return []command{
		{name: "demo", args: "[--keep=false]", summary: "the nightly story on the embedded default", run: (*app).cmdDemo},
		{name: "init", args: "[--force] [FILE]", summary: "write a commented starter config (default ./imsfeed.yaml)", files: true, run: (*app).cmdInit},
		{name: "validate", args: "[--lenient] [--json] FILE", summary: "read a file: counts, warnings, the fatal error if any", files: true, run: (*app).cmdValidate},
		{name: "import", args: "--tenant T [--json] FILE", summary: "one run of tenant T on a local file (no fetch)", files: true,
			run: func(a *app, ctx context.Context, args []string) error { return a.cmdImport(ctx, args, false) }},
		{name: "plan", args: "--tenant T [--json] FILE", summary: "the same run, nothing applied, recorded or mailed", files: true,
			run: func(a *app, ctx context.Context, args []string) error { return a.cmdImport(ctx, args, true) }},
		{name: "run", args: "(--tenant T | --all) [--parallel N] [--json]", summary: "fetch from T's source, then import", run: (*app).cmdRun},
		{name: "runs", args: "[--tenant T] [--json]", summary: "run history, newest first", run: (*app).cmdRuns},
		{name: "show", args: "RUN [--json] [--plan [--raw]]", summary: "one run: counts, verdict, warnings; --plan: the held plan", run: (*app).cmdShow},
		{name: "approve", args: "RUN --by NAME --reason TEXT [--json]", summary: "apply a held run's plan",
			run: func(a *app, ctx context.Context, args []string) error { return a.cmdDecide(ctx, args, true) }},
		{name: "reject", args: "RUN --by NAME --reason TEXT [--json]", summary: "close a held run",
			run: func(a *app, ctx context.Context, args []string) error { return a.cmdDecide(ctx, args, false) }},
		{name: "undo", args: "RUN --by NAME --reason TEXT [--cascade] [--json]", summary: "put the tenant back as it was before the run", run: (*app).cmdUndo},
		{name: "rollover", args: "--tenant T --to YEAR --by NAME --reason TEXT [--json]", summary: "plan a school-year rollover (held for approval)", run: (*app).cmdRollover},
		{name: "safety", args: "backtest --tenant T [--policy FILE] [--last N] [--json]", summary: "replay past runs through the tenant's or a proposed safety policy", subs: []string{"backtest"}, run: (*app).cmdSafety},
		{name: "status", args: "--tenant T [--json]", summary: "what the store holds for T now", run: (*app).cmdStatus},
		{name: "check", args: "--tenant T [--dry-run] [--json]", summary: "compare T's state index with its rows; rebuild it", run: (*app).cmdCheck},
		{name: "trash", args: "list|restore|purge --tenant T ...", summary: "the person trash can", subs: []string{"list", "restore", "purge"}, run: (*app).cmdTrash},
		{name: "relations", args: "--tenant T [--person KEY] [--json]", summary: "relations between persons (carers, mentors)", run: (*app).cmdRelations},
		{name: "archive", args: "list|restore --tenant T ...", summary: "archived courses", subs: []string{"list", "restore"}, run: (*app).cmdArchive},
		{name: "serve", args: "", summary: "run each tenant on its schedule; the live channel", run: (*app).cmdServe},
		{name: "queue", args: "[--json]", summary: "serve's job queue: next slots, running, retrying, failed", run: (*app).cmdQueue},
		{name: "es", args: "log|allow --tenant T ...", summary: "the live channel's request log; a one-off deletes allowance", subs: []string{"log", "allow"}, run: (*app).cmdES},
		{name: "completion", args: "bash|zsh|fish", summary: "a shell completion script, e.g. source <(imsfeed completion bash)", subs: []string{"bash", "zsh", "fish"}, run: (*app).cmdCompletion},
		{name: "man", args: "", summary: "the manual page (roff), e.g. imsfeed man | man -l -", run: (*app).cmdMan},
		{name: "version", args: "", summary: "module version, commit, build date, Go version", run: (*app).cmdVersion},
	}
}

func findCommand(name string) (command, bool) {
	for _, c := range commandTable() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

const usageHead = `imsfeed imports a school owner's nightly IMS Enterprise 1.1 export, holds
suspiciously large changes for an operator, and mails a status log of every attempt.

Usage: imsfeed [--config FILE] [-v] [--log-format text|json] [--log-level LEVEL] COMMAND ...

Commands:
`

const usageTail = `
Config: --config FILE, else $IMSFEED_CONFIG, else ./imsfeed.yaml, else the embedded default
(SQLite and an outbox under $IMSFEED_DATA_DIR, else $XDG_DATA_HOME/imsfeed, else
~/.local/share/imsfeed). The global flags may also follow the command name.
Exit codes: 0 completed/skipped/ok, 1 failed, 2 usage or configuration error, 3 held,
130 interrupted.
Run 'imsfeed COMMAND --help' for a command's flags and an example.
`

// usageText is the overview `imsfeed help` prints.
func usageText() string {
	var b strings.Builder
	b.WriteString(usageHead)
	for _, c := range commandTable() {
		line := fmt.Sprintf("  %-8s %s", c.name, c.args)
		if len(line) < 46 {
			line = fmt.Sprintf("%-46s", line)
		} else {
			line += "   "
		}
		b.WriteString(line + c.summary + "\n")
	}
	b.WriteString(usageTail)
	return b.String()
}

// globalFlags are accepted before and after the command name.
var globalFlags = []string{"config", "log-format", "log-level", "v"}

// cmdFlags is a command's flag set with what its help says.
type cmdFlags struct {
	a                 *app
	fs                *flag.FlagSet
	synopsis, example string
	help              bool
}

// helpValue is -h and --help on every command.
type helpValue struct{ c *cmdFlags }

func (h helpValue) String() string   { return "false" }
func (h helpValue) IsBoolFlag() bool { return true }
func (h helpValue) Set(v string) error {
	h.c.help = v == "true"
	return nil
}

// errDescribed stops a command once its flags are defined (see app.describe).
var errDescribed = errors.New("described")

// flags builds a command's flag set with its help text and example. The global flags are
// defined on it too, so `imsfeed runs --config x.yaml` works as `imsfeed --config x.yaml runs`.
func (a *app) flags(name, synopsis, example string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // parse reports errors; help goes to stdout
	fs.Usage = func() {}
	c := &cmdFlags{a: a, fs: fs, synopsis: synopsis, example: example}
	fs.Var(helpValue{c}, "help", "show this help")
	fs.Var(helpValue{c}, "h", "show this help")
	fs.StringVar(&a.configFlag, "config", a.configFlag, "config file")
	fs.Func("log-format", "log format: text or json", func(v string) error { a.logFormat = v; return a.setLogger() })
	fs.Func("log-level", "log level: debug, info, warn, error", func(v string) error { a.logLevel = v; return a.setLogger() })
	fs.BoolFunc("v", "log INFO lines on a terminal too", func(v string) error { a.verbose = v == "true"; return a.setLogger() })
	return fs
}

// parse reads flags anywhere among the arguments (`approve 17 --by x` and `approve --by x 17`)
// and returns the positional ones. -h or --help prints the command's help on stdout and ends
// the command with exit 0.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var c *cmdFlags
	if h, ok := fs.Lookup("help").Value.(helpValue); ok {
		c = h.c
	}
	if c != nil && c.a.describe != nil {
		c.a.describe(c)
		return nil, errDescribed
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usageError{fmt.Sprintf("%s: %v (imsfeed %s --help shows the flags)", fs.Name(), err, strings.Fields(fs.Name())[0])}
		}
		if c != nil && c.help {
			c.printHelp(c.a.stdout)
			return nil, errHelp
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// commandFlags are a command's own flags, without help and the global ones.
func (c *cmdFlags) commandFlags() []*flag.Flag {
	var out []*flag.Flag
	c.fs.VisitAll(func(f *flag.Flag) {
		if f.Name != "help" && f.Name != "h" && !slices.Contains(globalFlags, f.Name) {
			out = append(out, f)
		}
	})
	return out
}

func (c *cmdFlags) printHelp(w io.Writer) {
	fmt.Fprintf(w, "Usage: imsfeed %s\n", c.synopsis)
	if name := strings.Fields(c.fs.Name())[0]; name != "" {
		if cmd, ok := findCommand(name); ok {
			fmt.Fprintf(w, "\n%s.\n", capitalize(cmd.summary))
		}
	}
	if fl := c.commandFlags(); len(fl) > 0 {
		fmt.Fprintln(w, "\nFlags:")
		for _, f := range fl {
			arg, usage := flagArg(f)
			name := "--" + f.Name
			if arg != "" {
				name += " " + arg
			}
			def := ""
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" {
				def = fmt.Sprintf(" (default %s)", f.DefValue)
			}
			fmt.Fprintf(w, "  %-22s %s%s\n", name, usage, def)
		}
	}
	fmt.Fprintln(w, "\nGlobal flags, before or after the command: --config FILE, -v, --log-format text|json, --log-level LEVEL")
	fmt.Fprintf(w, "\nExample:\n  %s\n", c.example)
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// subcommand splits `trash list --tenant x` into "list" and the rest. A help flag in place of
// the subcommand shows the command's help; a subcommand after flags (`trash --tenant x list`)
// is found too.
func subcommand(name string, args []string, subs ...string) (string, []string, error) {
	if len(args) > 0 && isHelp(args[0]) {
		return subs[0], []string{"--help"}, nil
	}
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") && !slices.Contains(subs, args[0]) {
		return "", nil, usagef("%s: unknown subcommand %q (want %s; imsfeed %s --help shows how)", name, args[0], strings.Join(subs, ", "), name)
	}
	for i, arg := range args {
		if slices.Contains(subs, arg) {
			rest := append(slices.Clone(args[:i]), args[i+1:]...)
			return arg, rest, nil
		}
	}
	return "", nil, usagef("%s: want %s (imsfeed %s --help shows how)", name, strings.Join(subs, ", "), name)
}

func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}

// described is one command as the completions and the man page see it.
type described struct {
	command
	synopsis, example string
	flags             []*flag.Flag
}

// describeAll runs each command in describe mode: it defines its flags and stops.
func describeAll() []described {
	var out []described
	for _, c := range commandTable() {
		a := &app{}
		var got *cmdFlags
		a.describe = func(cf *cmdFlags) { got = cf }
		var args []string
		if len(c.subs) > 0 {
			args = []string{c.subs[0]}
		}
		_ = c.run(a, context.Background(), args)
		d := described{command: c}
		if got != nil {
			d.synopsis, d.example, d.flags = got.synopsis, got.example, got.commandFlags()
		} else {
			d.synopsis = strings.TrimSpace(c.name + " " + c.args)
		}
		out = append(out, d)
	}
	return out
}

// flagArg is a flag's value placeholder (TENANT for --tenant, N for a number; none for a
// switch) and its usage text.
func flagArg(f *flag.Flag) (string, string) {
	arg, usage := flag.UnquoteUsage(f)
	switch arg {
	case "":
		return "", usage
	case "int", "uint", "float":
		return "N", usage
	case "string", "value", "duration":
		return strings.ToUpper(f.Name), usage
	}
	return strings.ToUpper(arg), usage
}
