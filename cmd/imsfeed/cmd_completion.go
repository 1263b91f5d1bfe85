package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
)

// cmdCompletion prints a shell completion script made from the command table.
func (a *app) cmdCompletion(ctx context.Context, args []string) error {
	sub, rest, err := subcommand("completion", args, "bash", "zsh", "fish")
	if err != nil {
		return err
	}
	fs := a.flags("completion "+sub, "completion bash|zsh|fish",
		"imsfeed completion bash > /etc/bash_completion.d/imsfeed   # or: source <(imsfeed completion bash)")
	if _, err := parse(fs, rest); err != nil {
		return err
	}
	cmds := describeAll()
	switch sub {
	case "bash":
		writeBash(a.stdout, cmds)
	case "zsh":
		writeZsh(a.stdout, cmds)
	case "fish":
		writeFish(a.stdout, cmds)
	}
	return nil
}

// cmdMan prints the manual page in roff.
func (a *app) cmdMan(ctx context.Context, args []string) error {
	fs := a.flags("man", "man", "imsfeed man > /usr/local/share/man/man1/imsfeed.1   # or: imsfeed man | man -l -")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	writeMan(a.stdout, describeAll())
	return nil
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// valueFlags are the flags of cmds that take a value, for the shells to complete nothing after.
func valueFlags(d described) []string {
	var out []string
	for _, f := range d.flags {
		if !isBool(f) {
			out = append(out, "--"+f.Name)
		}
	}
	return out
}

func flagNames(d described) []string {
	var out []string
	for _, f := range d.flags {
		out = append(out, "--"+f.Name)
	}
	return append(out, "--help")
}

func names(cmds []described) []string {
	var out []string
	for _, c := range cmds {
		out = append(out, c.name)
	}
	return out
}

func writeBash(w io.Writer, cmds []described) {
	fmt.Fprintf(w, `# bash completion for imsfeed; made by: imsfeed completion bash
_imsfeed() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} cmd="" sub="" i
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		--config | --log-format | --log-level) ((i++)) ;;
		-*) ;;
		*) if [[ -z $cmd ]]; then cmd=${COMP_WORDS[i]}; elif [[ -z $sub ]]; then sub=${COMP_WORDS[i]}; fi ;;
		esac
	done
	case $prev in
	--config) COMPREPLY=($(compgen -f -- "$cur")); return ;;
	--log-format) COMPREPLY=($(compgen -W "text json" -- "$cur")); return ;;
	--log-level) COMPREPLY=($(compgen -W "debug info warn error" -- "$cur")); return ;;
	esac
	if [[ -z $cmd ]]; then
		COMPREPLY=($(compgen -W "%s --config -v --log-format --log-level --version --help" -- "$cur"))
		return
	fi
	local flags="" values="" subs="" files=""
	case $cmd in
`, strings.Join(names(cmds), " "))
	for _, c := range cmds {
		files := ""
		if c.files {
			files = "1"
		}
		fmt.Fprintf(w, "\t%s) flags=%q values=%q subs=%q files=%q ;;\n", c.name,
			strings.Join(flagNames(c), " "), strings.Join(valueFlags(c), " "), strings.Join(c.subs, " "), files)
	}
	fmt.Fprint(w, `	*) return ;;
	esac
	if [[ " $values " == *" $prev "* ]]; then
		COMPREPLY=()
	elif [[ -n $subs && -z $sub && $cur != -* ]]; then
		COMPREPLY=($(compgen -W "$subs" -- "$cur"))
	elif [[ $cur == -* || -z $files ]]; then
		COMPREPLY=($(compgen -W "$flags --config --log-format --log-level" -- "$cur"))
	else
		COMPREPLY=($(compgen -f -- "$cur"))
	fi
}
complete -o filenames -F _imsfeed imsfeed
`)
}

// zshDesc escapes a description for _describe (name:description).
func zshDesc(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), ":", `\:`) }

func zshQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func writeZsh(w io.Writer, cmds []described) {
	fmt.Fprint(w, `#compdef imsfeed
# zsh completion for imsfeed; made by: imsfeed completion zsh
_imsfeed() {
	local -a commands flags subs
	local cmd="" sub="" i values="" files=""
	commands=(
`)
	for _, c := range cmds {
		fmt.Fprintf(w, "\t\t%s\n", zshQuote(c.name+":"+zshDesc(c.summary)))
	}
	fmt.Fprint(w, `	)
	for ((i = 2; i < CURRENT; i++)); do
		case ${words[i]} in
		--config | --log-format | --log-level) ((i++)) ;;
		-*) ;;
		*) if [[ -z $cmd ]]; then cmd=${words[i]}; elif [[ -z $sub ]]; then sub=${words[i]}; fi ;;
		esac
	done
	case ${words[CURRENT-1]} in
	--config) _files; return ;;
	--log-format) compadd text json; return ;;
	--log-level) compadd debug info warn error; return ;;
	esac
	if [[ -z $cmd ]]; then
		if [[ $PREFIX == -* ]]; then
			compadd -- --config --log-format --log-level --version --help
		else
			_describe command commands
		fi
		return
	fi
	case $cmd in
`)
	for _, c := range cmds {
		fmt.Fprintf(w, "\t%s)\n\t\tflags=(", c.name)
		for _, f := range c.flags {
			_, usage := flag.UnquoteUsage(f)
			fmt.Fprintf(w, " %s", zshQuote("--"+f.Name+":"+zshDesc(usage)))
		}
		fmt.Fprintf(w, " '--help:show the help')\n\t\tsubs=(%s) values=%s files=%q ;;\n",
			strings.Join(c.subs, " "), zshQuote(" "+strings.Join(valueFlags(c), " ")+" "), map[bool]string{true: "1"}[c.files])
	}
	fmt.Fprint(w, `	*) return ;;
	esac
	if [[ $values == *" ${words[CURRENT-1]} "* ]]; then
		return
	elif (( ${#subs} )) && [[ -z $sub && $PREFIX != -* ]]; then
		compadd -a subs
	elif [[ $PREFIX == -* || -z $files ]]; then
		_describe flag flags
	else
		_files
	fi
}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
	_imsfeed "$@"
else
	compdef _imsfeed imsfeed
fi
`)
}

func fishQuote(s string) string {
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
}

func writeFish(w io.Writer, cmds []described) {
	fmt.Fprint(w, "# fish completion for imsfeed; made by: imsfeed completion fish\ncomplete -c imsfeed -f\n")
	fmt.Fprint(w, "complete -c imsfeed -l config -r -F -d 'config file'\n")
	fmt.Fprint(w, "complete -c imsfeed -l log-format -x -a 'text json' -d 'log format'\n")
	fmt.Fprint(w, "complete -c imsfeed -l log-level -x -a 'debug info warn error' -d 'log level'\n")
	fmt.Fprint(w, "complete -c imsfeed -n __fish_use_subcommand -l version -d 'print the version'\n")
	for _, c := range cmds {
		fmt.Fprintf(w, "complete -c imsfeed -n __fish_use_subcommand -a %s -d %s\n", c.name, fishQuote(c.summary))
		cond := fishQuote("__fish_seen_subcommand_from " + c.name)
		if len(c.subs) > 0 {
			subs := strings.Join(c.subs, " ")
			fmt.Fprintf(w, "complete -c imsfeed -n %s -a %s\n",
				fishQuote("__fish_seen_subcommand_from "+c.name+"; and not __fish_seen_subcommand_from "+subs), fishQuote(subs))
		}
		for _, f := range c.flags {
			_, usage := flag.UnquoteUsage(f)
			req := ""
			if !isBool(f) {
				req = " -r"
			}
			fmt.Fprintf(w, "complete -c imsfeed -n %s -l %s%s -d %s\n", cond, f.Name, req, fishQuote(usage))
		}
		if c.files {
			fmt.Fprintf(w, "complete -c imsfeed -n %s -F\n", cond)
		}
	}
}

// roff escapes text for a man page.
func roff(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

func writeMan(w io.Writer, cmds []described) {
	fmt.Fprint(w, `.TH IMSFEED 1 "" "imsfeed" "User Commands"
.SH NAME
imsfeed \- import nightly IMS Enterprise 1.1 exports, hold suspicious changes, mail a status log
.SH SYNOPSIS
.B imsfeed
[\fB\-\-config\fR \fIFILE\fR] [\fB\-v\fR] [\fB\-\-log\-format\fR \fItext|json\fR] [\fB\-\-log\-level\fR \fILEVEL\fR] \fICOMMAND\fR ...
.SH DESCRIPTION
imsfeed imports a school owner's nightly IMS Enterprise 1.1 export into PostgreSQL or SQLite:
it fetches the file from SFTP or a folder, works out what changed, holds a change set over the
tenant's safety limits until an operator approves it, applies the rest in one transaction,
moves persons who disappeared to a trash can, archives courses that ended, and mails a status
log for every attempt.
.SH COMMANDS
`)
	for _, c := range cmds {
		fmt.Fprintf(w, ".TP\n.B imsfeed %s\n%s.\n", roff(c.synopsis), roff(capitalize(c.summary)))
		if len(c.flags) > 0 {
			fmt.Fprint(w, ".RS\n")
			for _, f := range c.flags {
				arg, usage := flagArg(f)
				head := `\fB\-\-` + roff(f.Name) + `\fR`
				if arg != "" {
					head += ` \fI` + roff(arg) + `\fR`
				}
				if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" {
					usage += " (default " + f.DefValue + ")"
				}
				fmt.Fprintf(w, ".TP\n%s\n%s\n", head, roff(usage))
			}
			fmt.Fprint(w, ".RE\n")
		}
		if c.example != "" {
			fmt.Fprintf(w, ".IP\nExample: \\fB%s\\fR\n", roff(c.example))
		}
	}
	fmt.Fprint(w, `.SH GLOBAL FLAGS
These may come before or after the command name.
.TP
\fB\-v\fR
Log INFO lines on a terminal too (a terminal shows only warnings and errors by default).
.TP
\fB\-\-config\fR \fIFILE\fR
The config file. Without it: $IMSFEED_CONFIG, else ./imsfeed.yaml, else the embedded default
(SQLite and an outbox under the data directory; any tenant id is accepted).
.TP
\fB\-\-log\-format\fR \fItext|json\fR
Log lines on standard error as text (default) or JSON.
.TP
\fB\-\-log\-level\fR \fIdebug|info|warn|error\fR
The least important log lines shown (default info).
.TP
\fB\-\-version\fR
Print the version (before the command only), as \fBimsfeed version\fR does.
.SH EXIT STATUS
.TP
.B 0
completed, skipped, planned, or the command did what was asked (also \-\-help)
.TP
.B 1
failed, or a refused approval
.TP
.B 2
usage or configuration error
.TP
.B 3
held by the safety filter
.PP
\fBrun \-\-all\fR exits with the worst of its runs. With \fB\-\-json\fR a command prints exactly one
JSON document on standard output; its shape is a contract (fields may be added, never renamed).
.SH ENVIRONMENT
.TP
.B IMSFEED_CONFIG
the config file when \-\-config is not given
.TP
.B IMSFEED_DATA_DIR
the data directory of the embedded default (else $XDG_DATA_HOME/imsfeed or ~/.local/share/imsfeed)
.TP
.B IMSFEED_SMTP_PASSWORD, IMSFEED_<TENANT>_SFTP_PASSWORD, IMSFEED_<TENANT>_SSH_PASSPHRASE
secrets, when the config names no *_file for them
.SH FILES
.TP
.I ./imsfeed.yaml
the config file when neither \-\-config nor $IMSFEED_CONFIG names one; \fBimsfeed init\fR writes a commented starter
.SH SEE ALSO
The README of the imsfeed source: the configuration reference, the safety filter, the operator's
guide and troubleshooting.
`)
}
