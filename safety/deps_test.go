package safety

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportBoundary keeps the filter pure and a leaf: of our packages it may use only record
// and change (transitively), and its own code imports nothing that reaches files, the network,
// a database, a logger or the clock.
func TestImportBoundary(t *testing.T) {
	t.Parallel()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not on PATH")
	}
	const mod = "github.com/imsfeed/imsfeed/"
	out, err := exec.Command(goBin, "list", "-deps", "-f", "{{.ImportPath}}|{{join .Imports \" \"}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	allowedOurs := map[string]bool{mod + "safety": true, mod + "record": true, mod + "change": true}
	forbidden := map[string]bool{
		"os": true, "os/exec": true, "os/signal": true, "net": true, "net/http": true, "io/fs": true,
		"io/ioutil": true, "path/filepath": true, "database/sql": true, "log": true, "log/slog": true,
		"time": true, "syscall": true, "unsafe": true, "math/rand": true, "math/rand/v2": true,
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, "|")
		if strings.HasPrefix(pkg, mod) && !allowedOurs[pkg] {
			t.Errorf("safety depends on %s; it may use only record and change of ours", pkg)
		}
		if !allowedOurs[pkg] {
			continue // the standard library and yaml may use what they like
		}
		for _, imp := range strings.Fields(imports) {
			if forbidden[imp] {
				t.Errorf("%s imports %s: the filter must stay pure (no I/O, no clock, no logging)", pkg, imp)
			}
		}
	}
}
