package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
)

// Set by `make build` and `make install` (-ldflags "-X main.buildDate=…"): the build's date,
// and `git describe` and the commit for builds where the toolchain stamps no VCS information
// (GOFLAGS=-buildvcs=false). A plain `go build` leaves them empty.
var buildDate, buildVersion, buildCommit string

// cmdVersion prints what `imsfeed version` and `imsfeed --version` say.
func (a *app) cmdVersion(ctx context.Context, args []string) error {
	fs := a.flags("version", "version", "imsfeed version")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	fmt.Fprint(a.stdout, versionText())
	return nil
}

// versionText is the module version, commit, build date and Go version, from the build info
// the Go toolchain embeds.
func versionText() string {
	version, commit, committed, modified := "(unknown)", "", "", false
	if info, ok := debug.ReadBuildInfo(); ok {
		version = info.Main.Version
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.time":
				committed = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if version == "(devel)" && buildVersion != "" {
		version = buildVersion
	}
	if commit == "" {
		commit = buildCommit
	}
	var b strings.Builder
	fmt.Fprintf(&b, "imsfeed %s\n", version)
	switch {
	case commit == "":
		fmt.Fprintln(&b, "  commit   unknown (not built from a git checkout)")
	case modified:
		fmt.Fprintf(&b, "  commit   %s (with uncommitted changes)\n", commit)
	default:
		fmt.Fprintf(&b, "  commit   %s\n", commit)
	}
	switch {
	case buildDate != "":
		fmt.Fprintf(&b, "  built    %s\n", buildDate)
	case committed != "":
		fmt.Fprintf(&b, "  built    unknown (committed %s)\n", committed)
	default:
		fmt.Fprintln(&b, "  built    unknown")
	}
	fmt.Fprintf(&b, "  go       %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return b.String()
}

// self is how to type this program again in the shell it was started from: "imsfeed" when
// PATH finds this very binary, "go run ./cmd/imsfeed" for a go run binary (gone on exit),
// else its path (relative when it is below the working directory, e.g. bin/imsfeed).
func self() string {
	exe, err := os.Executable()
	if err != nil {
		return "imsfeed"
	}
	exe, _ = filepath.EvalSymlinks(exe)
	if p, err := exec.LookPath("imsfeed"); err == nil {
		if p, err = filepath.EvalSymlinks(p); err == nil && sameFile(p, exe) {
			return "imsfeed"
		}
	}
	if strings.Contains(exe, string(filepath.Separator)+"go-build") {
		return "go run ./cmd/imsfeed"
	}
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, exe); err == nil && !strings.HasPrefix(rel, "..") {
			if !strings.Contains(rel, string(filepath.Separator)) {
				rel = "." + string(filepath.Separator) + rel
			}
			return rel
		}
	}
	return exe
}

func sameFile(a, b string) bool {
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}
