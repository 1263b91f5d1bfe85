package main

import (
	"database/sql"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/schemas"
)

// One behaviour for each kind of mistake: help exits 0 on stdout, a usage or configuration
// error exits 2 with a message naming what is wrong.
func TestHelpAndUsageErrorsAreConsistent(t *testing.T) {
	dir := t.TempDir()
	for _, c := range commandTable() {
		r := imsfeed(t, dir, c.name, "--help")
		if r.code != 0 || !strings.Contains(r.stdout, "Usage: imsfeed "+c.name) || !strings.Contains(r.stdout, "Example:") {
			t.Errorf("%s --help: exit %d\n%s%s", c.name, r.code, r.stdout, r.stderr)
		}
	}
	for _, args := range [][]string{{"trash", "--help"}, {"archive", "-h"}, {"help", "trash"}, {"trash", "list", "--help"}, {"--help"}, {"help"}} {
		if r := imsfeed(t, dir, args...); r.code != 0 || !strings.Contains(r.stdout, "Usage: imsfeed") {
			t.Errorf("%v: exit %d, want 0 and the help on stdout\n%s%s", args, r.code, r.stdout, r.stderr)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"validate", "missing.xml"}, "validate: stat missing.xml: no such file"},
		{[]string{"import", "--tenant", "north", "missing.xml"}, "import: stat missing.xml: no such file"},
		{[]string{"runs", "--bogus"}, "runs: flag provided but not defined: -bogus"},
		{[]string{"trash", "list"}, "trash list: --tenant T is required"},
		{[]string{"trash", "empty", "--tenant", "north"}, `trash: unknown subcommand "empty"`},
		{[]string{"trash", "purge", "--tenant", "north", "--older-than", "3 weeks"}, `"3 weeks" is not a duration`},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
	} {
		r := imsfeed(t, dir, c.args...)
		if r.code != 2 || !strings.Contains(r.stderr, c.want) || r.stdout != "" {
			t.Errorf("%v: exit %d, stderr %q, stdout %q; want exit 2 saying %q", c.args, r.code, r.stderr, r.stdout, c.want)
		}
	}
}

// Global flags may follow the command name; --older-than takes days.
func TestGlobalFlagsAfterTheCommandAndDays(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "other.yaml")
	os.WriteFile(cfg, []byte("data_dir: "+dir+"\ntenants:\n  - id: north\n"), 0o644)
	if r := imsfeed(t, dir, "runs", "--config", cfg, "--log-format", "json", "--json"); r.code != 0 || strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("runs --config FILE: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := imsfeed(t, dir, "status", "--tenant", "south", "--config", cfg); r.code != 2 || !strings.Contains(r.stderr, "south") {
		t.Errorf("--config after the command is not used: exit %d %q", r.code, r.stderr)
	}
	if r := imsfeed(t, dir, "trash", "purge", "--tenant", "north", "--older-than", "90d", "--config", cfg); r.code != 0 || !strings.Contains(r.stdout, "purged 0") {
		t.Errorf("trash purge --older-than 90d: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
}

// Configuration errors exit 2 and name line and key, also for a store URL that cannot work.
func TestConfigErrorsExitTwoWithLineAndKey(t *testing.T) {
	dir := t.TempDir()
	for body, want := range map[string]string{
		"store: sqlite://state.db\n":                         `line 1: store: sqlite://state.db names host "state.db"`,
		"tenants:\n  - id: north\n    stale_after: 2 days\n": `line 3: tenants[0].stale_after: "2 days" is not a duration`,
	} {
		os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte(body), 0o644)
		if r := imsfeed(t, dir, "--config", "bad.yaml", "runs"); r.code != 2 || !strings.Contains(r.stderr, want) {
			t.Errorf("config %q: exit %d %q, want 2 and %q", body, r.code, r.stderr, want)
		}
	}
}

// A source url that holds a password, whole or in pieces, stops every command with exit 2 and
// an error that says what to fix without showing any of the password (QA's configs).
func TestASourceURLWithAPasswordExitsTwoWithoutShowingIt(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ url, secret, fix string }{
		{"sftp://sis:Tr0ub4dor/x@127.0.0.1:42001/srv/out", "Tr0ub4dor/x", "percent-encode"},
		{"sftp://sis:a@Tr0ub4dor#x@127.0.0.1/srv/out", "a@Tr0ub4dor#x", "percent-encode"},
		{"sftp://sis:p@ss#Word9@127.0.0.1:42001/srv/out", "p@ss#Word9", "percent-encode"},
		{"sftp://sis@127.0.0.1:42001/srv/out?password=TopSecretPw2", "TopSecretPw2", "password_file"},
	} {
		body := fmt.Sprintf("tenants:\n  - id: north\n    source:\n      url: %q\n      known_hosts: kh\n", c.url)
		os.WriteFile(filepath.Join(dir, "qa.yaml"), []byte(body), 0o644)
		r := imsfeed(t, dir, "--config", "qa.yaml", "status", "--tenant", "north")
		if r.code != 2 || !strings.Contains(r.stderr, "line 4: tenant north: source: url: ") || !strings.Contains(r.stderr, c.fix) {
			t.Errorf("%s: exit %d %q, want 2 naming the tenant and saying %q", c.url, r.code, r.stderr, c.fix)
		}
		for i := 0; i+4 <= len(c.secret); i++ {
			if strings.Contains(r.stdout+r.stderr, c.secret[i:i+4]) {
				t.Errorf("%s: the output shows %q of the password: %s%s", c.url, c.secret[i:i+4], r.stdout, r.stderr)
				break
			}
		}
	}
}

// init writes a starter config that loads, and never overwrites one by accident.
func TestInitWritesAStarterConfigThatLoads(t *testing.T) {
	dir := t.TempDir()
	r := imsfeed(t, dir, "init")
	if r.code != 0 {
		t.Fatalf("init: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	data, _ := os.ReadFile(filepath.Join(dir, "imsfeed.yaml"))
	if !strings.Contains(string(data), "# ") || !strings.Contains(string(data), "safety:") {
		t.Errorf("the starter config is not commented:\n%s", data)
	}
	if r := imsfeed(t, dir, "status", "--tenant", "northside", "--json"); r.code != 0 {
		t.Errorf("status with the starter config: exit %d %s", r.code, r.stderr)
	}
	if r := imsfeed(t, dir, "init"); r.code != 2 || !strings.Contains(r.stderr, "exists") {
		t.Errorf("init over an existing file: exit %d %q, want 2", r.code, r.stderr)
	}
	if r := imsfeed(t, dir, "init", "--force"); r.code != 0 {
		t.Errorf("init --force: exit %d %q", r.code, r.stderr)
	}
}

// The completions offer the commands, subcommands and flags of the command table. Bash is
// exercised for real; zsh and fish are checked for syntax where they are installed.
func TestShellCompletion(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "imsfeed.bash")
	r := imsfeed(t, dir, "completion", "bash")
	if r.code != 0 {
		t.Fatalf("completion bash: exit %d %s", r.code, r.stderr)
	}
	os.WriteFile(script, []byte(r.stdout), 0o644)
	complete := func(words ...string) string {
		t.Helper()
		cmd := exec.Command("bash", "-c", `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]}-1)); _imsfeed; echo "${COMPREPLY[*]}"`, "bash", script)
		cmd.Args = append(cmd.Args, words...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("bash completion of %v: %v\n%s", words, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	for _, c := range []struct {
		words []string
		want  string
	}{
		{[]string{"imsfeed", "tr"}, "trash"},
		{[]string{"imsfeed", "--config", "x.yaml", "ar"}, "archive"},
		{[]string{"imsfeed", "trash", ""}, "list restore purge"},
		{[]string{"imsfeed", "trash", "purge", "--ol"}, "--older-than"},
		{[]string{"imsfeed", "import", "--te"}, "--tenant"},
		{[]string{"imsfeed", "runs", "--j"}, "--json"},
		{[]string{"imsfeed", "completion", ""}, "bash zsh fish"},
	} {
		if got := complete(c.words...); got != c.want {
			t.Errorf("completing %q: %q, want %q", c.words, got, c.want)
		}
	}
	for _, sh := range []string{"zsh", "fish"} {
		r := imsfeed(t, dir, "completion", sh)
		if r.code != 0 || !strings.Contains(r.stdout, "older-than") || !strings.Contains(r.stdout, "archive") {
			t.Errorf("completion %s: exit %d\n%s", sh, r.code, r.stdout)
		}
		if _, err := exec.LookPath(sh); err == nil {
			f := filepath.Join(dir, "imsfeed."+sh)
			os.WriteFile(f, []byte(r.stdout), 0o644)
			if out, err := exec.Command(sh, "-n", f).CombinedOutput(); err != nil {
				t.Errorf("%s -n on the completion: %v\n%s", sh, err, out)
			}
		}
	}
}

// The man page is made from the same table as --help: every command with every flag, and it
// renders without warnings.
func TestManPage(t *testing.T) {
	dir := t.TempDir()
	r := imsfeed(t, dir, "man")
	if r.code != 0 || !strings.HasPrefix(r.stdout, ".TH IMSFEED 1") {
		t.Fatalf("man: exit %d\n%s", r.code, r.stdout)
	}
	for _, d := range describeAll() {
		if !strings.Contains(r.stdout, ".B imsfeed "+roff(d.synopsis)) {
			t.Errorf("the man page lacks %q", d.synopsis)
		}
		for _, f := range d.flags {
			if !strings.Contains(r.stdout, `\fB\-\-`+roff(f.Name)+`\fR`) {
				t.Errorf("the man page lacks %s --%s", d.name, f.Name)
			}
		}
	}
	if _, err := exec.LookPath("groff"); err == nil {
		cmd := exec.Command("groff", "-man", "-Tutf8", "-ww", "-z")
		cmd.Stdin = strings.NewReader(r.stdout)
		if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("groff warns about the man page: %v\n%s", err, out)
		}
	}
}

// contrib/systemd ships a timer-started `run --all`, a hardened `serve` unit, and both pass
// systemd-analyze verify (where systemd is installed) with the binary under test.
func TestSystemdUnits(t *testing.T) {
	dir := t.TempDir()
	var units []string
	for name, want := range map[string]string{
		"imsfeed.service":       "run --all",
		"imsfeed.timer":         "OnCalendar=",
		"imsfeed-serve.service": " serve",
	} {
		data, err := os.ReadFile(filepath.Join("..", "..", "contrib", "systemd", name))
		if err != nil {
			t.Fatal(err)
		}
		s := string(data)
		if !strings.Contains(s, want) {
			t.Errorf("%s lacks %q", name, want)
		}
		if strings.HasSuffix(name, ".service") {
			for _, h := range []string{"NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "SystemCallFilter=@system-service"} {
				if !strings.Contains(s, h) {
					t.Errorf("%s lacks the hardening option %s", name, h)
				}
			}
		}
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(strings.ReplaceAll(s, "/usr/local/bin/imsfeed", binary)), 0o644)
		units = append(units, p)
	}
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Log("systemd-analyze not installed; units checked by content only")
		return
	}
	out, err := exec.Command("systemd-analyze", append([]string{"verify", "--man=no"}, units...)...).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// A store that cannot be opened is named once, by the store's own words.
func TestAStoreThatCannotOpenIsNamedOnce(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "missing.yaml"), []byte("store: sqlite://"+dir+"/no/such/folder/state.db\ntenants:\n  - id: north\n    source:\n      url: "+dir+"\n"), 0o644)
	r := imsfeed(t, dir, "--config", "missing.yaml", "status", "--tenant", "north")
	if r.code == 0 || strings.Count(r.stderr, "no/such/folder/state.db") != 2 || !strings.Contains(r.stderr, "open sqlite store "+dir+"/no/such/folder/state.db: ") {
		// twice: the store names its file, and the operating system's error names it once more
		t.Errorf("exit %d, stderr %q: want the store named once, then the cause", r.code, r.stderr)
	}
}

// A store a newer imsfeed migrated is refused in one line that says what to do, whatever the
// command (here status, the cheapest).
func TestAStoreANewerImsfeedMigratedIsRefused(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "imsfeed.yaml"), []byte("store: sqlite://"+dir+"/state.db\ntenants:\n  - id: north\n    source:\n      url: "+dir+"\n"), 0o644)
	if r := imsfeed(t, dir, "status", "--tenant", "north"); r.code != 0 { // migrations
		t.Fatalf("status: exit %d %s", r.code, r.stderr)
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES ('9999_from_a_newer_imsfeed', '2031-01-01T00:00:00Z')`); err != nil {
		t.Fatal(err)
	}
	all, err := schemas.Migrations("sqlite")
	if err != nil {
		t.Fatal(err)
	}
	names, _ := fs.Glob(all, "*.sql")
	want := "imsfeed: open sqlite store " + dir + "/state.db: the store was upgraded by a newer imsfeed (migration 9999_from_a_newer_imsfeed); this imsfeed knows migrations up to " +
		strings.TrimSuffix(names[len(names)-1], ".sql") + ": upgrade this imsfeed\n"
	if r := imsfeed(t, dir, "status", "--tenant", "north"); r.code != exitFailed || r.stderr != want {
		t.Errorf("status on a store a newer imsfeed migrated: exit %d, stderr\n%q\nwant exit %d and\n%q", r.code, r.stderr, exitFailed, want)
	}
	// The night's attempt is mailed and printed as refused, not as a store that could not be
	// reached (nothing to retry: this imsfeed is to be upgraded).
	r := imsfeed(t, dir, "import", "--tenant", "north", writeDemo(t, dir, "night1.xml"))
	if out := r.stdout + r.stderr; r.code == 0 || !strings.Contains(out, "state store refused this imsfeed: ") || !strings.Contains(out, "upgraded by a newer imsfeed") || strings.Contains(out, "unreachable") {
		t.Errorf("import on a store a newer imsfeed migrated: exit %d\n%s", r.code, out)
	}
	mails, _ := filepath.Glob(filepath.Join(dir, "data", "outbox", "*.eml"))
	if len(mails) != 1 {
		t.Fatalf("%d mails in the outbox, want the attempt's one", len(mails))
	}
	raw, err := os.ReadFile(mails[0])
	if m := readable(string(raw)); err != nil || !strings.Contains(m, "state store refused this imsfeed") || strings.Contains(m, "unreachable") {
		t.Errorf("the attempt's mail does not say the store refused this imsfeed (%v):\n%s", err, m)
	}
}

// A held run's mail names the config it was made with by its absolute path, however the config
// was found, so its approve command works typed anywhere; typed where another store is found,
// approve names the store it looked in.
func TestAHeldMailsCommandsNameTheConfigWherever(t *testing.T) {
	dir := t.TempDir()
	n1, n3 := writeDemo(t, dir, "night1.xml"), writeDemo(t, dir, "night3.xml")
	os.WriteFile(filepath.Join(dir, "imsfeed.yaml"), []byte("store: sqlite://"+dir+"/state.db\ntenants:\n  - id: north\n    source:\n      url: "+dir+"\n"), 0o644)
	if r := imsfeed(t, dir, "import", "--tenant", "north", n1); r.code != 0 {
		t.Fatalf("first night: exit %d %s", r.code, r.stderr)
	}
	r := imsfeed(t, dir, "import", "--tenant", "north", n3)
	if r.code != 3 {
		t.Fatalf("held night: exit %d %s", r.code, r.stderr)
	}
	id := regexp.MustCompile(`run (\d+)  north  HELD`).FindStringSubmatch(r.stdout)[1]
	mails, _ := filepath.Glob(filepath.Join(dir, "data", "outbox", "*-north-run"+id+".eml"))
	if len(mails) != 1 {
		t.Fatalf("mails of run %s: %v", id, mails)
	}
	raw, _ := os.ReadFile(mails[0])
	text := strings.ReplaceAll(strings.ReplaceAll(string(raw), "=\r\n", ""), "=\n", "")
	want := "imsfeed --config " + filepath.Join(dir, "imsfeed.yaml") + " approve " + id + " "
	if !strings.Contains(text, want) {
		t.Errorf("the held mail lacks %q:\n%s", want, text)
	}

	elsewhere := filepath.Join(dir, "elsewhere")
	os.Mkdir(elsewhere, 0o755)
	r = imsfeed(t, elsewhere, "approve", id, "--by", "ops", "--reason", "checked")
	if r.code != 1 || !strings.Contains(r.stderr, "no such run in the store sqlite://"+elsewhere+"/data/state.db") {
		t.Errorf("approve where no config is found: exit %d %q, want the store it looked in named", r.code, r.stderr)
	}
	if r := imsfeed(t, elsewhere, "--config", filepath.Join(dir, "imsfeed.yaml"), "approve", id, "--by", "ops", "--reason", "checked"); r.code != 0 {
		t.Errorf("the mail's approve typed elsewhere: exit %d %s", r.code, r.stderr)
	}
}
