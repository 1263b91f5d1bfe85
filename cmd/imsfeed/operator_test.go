package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imsfeed/imsfeed/samples/feedgen"
)

// `plan` is for the person who typed it: it prints the verdict, mails nobody and leaves no run
// in the history; its JSON says status planned with run 0.
func TestPlanMailsNobodyAndLeavesNoRun(t *testing.T) {
	dir := t.TempDir()
	n1 := writeDemo(t, dir, "night1.xml")
	r := imsfeed(t, dir, "plan", "--tenant", "north", "--json", n1)
	var run map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &run); err != nil || r.code != 0 {
		t.Fatalf("plan --json: exit %d, %v\n%s\n%s", r.code, err, r.stdout, r.stderr)
	}
	if run["status"] != "planned" || run["run"] != 0.0 {
		t.Errorf("plan --json: status %v, run %v; want planned, 0", run["status"], run["run"])
	}
	if r := imsfeed(t, dir, "plan", "--tenant", "north", n1); r.code != 0 || !strings.Contains(r.stdout, "dry run  north  PLANNED") {
		t.Errorf("plan: exit %d\n%s", r.code, r.stdout)
	}
	if mails, _ := filepath.Glob(filepath.Join(dir, "data", "outbox", "*.eml")); len(mails) != 0 {
		t.Errorf("plan mailed the subscribers: %v", mails)
	}
	if r := imsfeed(t, dir, "runs", "--json"); strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("plan left runs in the history:\n%s", r.stdout)
	}
}

// A mistyped tenant is refused by every command that takes one, as import always did: exit 2,
// naming the configured tenants. The embedded default accepts any tenant id.
func TestEveryCommandRefusesAnUnknownTenant(t *testing.T) {
	dir := t.TempDir()
	n1 := writeDemo(t, dir, "night1.xml")
	os.WriteFile(filepath.Join(dir, "imsfeed.yaml"), []byte("store: sqlite://"+dir+"/state.db\ndata_dir: "+dir+"\ntenants:\n  - id: westfield\n"), 0o644)
	for _, args := range [][]string{
		{"status", "--tenant", "westfeild"},
		{"runs", "--tenant", "westfeild"},
		{"trash", "list", "--tenant", "westfeild"},
		{"trash", "restore", "--tenant", "westfeild", "P1"},
		{"trash", "purge", "--tenant", "westfeild", "--older-than", "1h"},
		{"archive", "list", "--tenant", "westfeild"},
		{"archive", "restore", "--tenant", "westfeild", "C1"},
		{"run", "--tenant", "westfeild"},
		{"import", "--tenant", "westfeild", n1},
		{"plan", "--tenant", "westfeild", n1},
		{"es", "log", "--tenant", "westfeild"},
		{"es", "allow", "--tenant", "westfeild", "--deletes", "5", "--by", "ops", "--reason", "test"},
	} {
		r := imsfeed(t, dir, args...)
		if r.code != 2 || !strings.Contains(r.stderr, `unknown tenant "westfeild" (configured: westfield)`) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 2 naming the configured tenants", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
	}
	if r := imsfeed(t, dir, "status", "--tenant", "westfield"); r.code != 0 {
		t.Errorf("status of the configured tenant: exit %d %s", r.code, r.stderr)
	}
	// The embedded default: any tenant id.
	emb := t.TempDir()
	if r := imsfeed(t, emb, "status", "--tenant", "anyone"); r.code != 0 {
		t.Errorf("status on the embedded default: exit %d %s", r.code, r.stderr)
	}
}

// A secret is read when it is used: with the SMTP password file missing, `runs` and `status`
// work, and an import completes with its mail queued, the reason naming the file.
func TestCommandsWorkWithoutTheSecretsTheyDoNotUse(t *testing.T) {
	dir := t.TempDir()
	n1 := writeDemo(t, dir, "night1.xml")
	os.WriteFile(filepath.Join(dir, "imsfeed.yaml"), []byte("store: sqlite://"+dir+"/state.db\ndata_dir: "+dir+"\n"+
		"smtp: {host: 127.0.0.1, port: 1, tls: none, from: imsfeed@example.org, username: imsfeed, password_file: /nonexistent/smtp-pass}\n"+
		"tenants:\n  - id: north\n    subscribers: [it@north.example.org]\n    source: {url: sftp://sis@127.0.0.1:1/out, known_hosts: kh, key_file: /nonexistent/id_ed25519}\n"), 0o644)
	for _, args := range [][]string{{"runs"}, {"status", "--tenant", "north"}, {"trash", "list", "--tenant", "north"}} {
		if r := imsfeed(t, dir, args...); r.code != 0 {
			t.Errorf("%s with the SMTP password file missing: exit %d\n%s", strings.Join(args, " "), r.code, r.stderr)
		}
	}
	r := imsfeed(t, dir, "import", "--tenant", "north", "--json", n1)
	var run struct{ Status, Mail, MailError string }
	json.Unmarshal([]byte(r.stdout), &run)
	if r.code != 0 || run.Status != "completed" || run.Mail != "queued" {
		t.Fatalf("import: exit %d, %+v\n%s", r.code, run, r.stderr)
	}
	if r := imsfeed(t, dir, "runs"); !strings.Contains(r.stdout, "smtp.password_file") {
		t.Errorf("runs does not say why the mail waits:\n%s", r.stdout)
	}
}

// Ctrl-C during an import: exit 130, the run is recorded as interrupted by the operator with
// nothing applied, and neither the terminal nor the mail blames the file.
func TestCtrlCDuringImportBlamesNotTheFile(t *testing.T) {
	dir := t.TempDir()
	big := writeFeedFile(t, dir, "big.xml", feedgen.Options{Persons: 20_000, Groups: 2_000, MembersPerGroup: 40, Seed: 7})
	p := start(t, dir, "import", "--tenant", "north", big)
	select {
	case <-p.when(`msg="import started"`):
	case <-p.done:
		t.Fatalf("the import exited before it started\n%s", p.stderr())
	case <-time.After(time.Minute):
		t.Fatalf("the import did not start in a minute\n%s", p.stderr())
	}
	p.cmd.Process.Signal(os.Interrupt)
	code := p.exitCode()
	out := p.stdout.String()
	if strings.Contains(out, "COMPLETED") {
		t.Skip("the import finished before the signal arrived; nothing to check")
	}
	if code != 130 || !strings.Contains(out, "interrupted by the operator; nothing was applied") || strings.Contains(out, "validate") {
		t.Errorf("Ctrl-C: exit %d (want 130)\n%s", code, out)
	}
	mails, _ := filepath.Glob(filepath.Join(dir, "data", "outbox", "*.eml"))
	if len(mails) != 1 {
		t.Fatalf("%d mails, want the interrupted run's", len(mails))
	}
	body, _ := os.ReadFile(mails[0])
	if strings.Contains(string(body), "context canceled") || !strings.Contains(string(body), "interrupted by the operator") {
		t.Errorf("the mail of an interrupted import:\n%s", body)
	}
	if r := imsfeed(t, dir, "status", "--tenant", "north", "--json"); !strings.Contains(r.stdout, `"state_version": 0`) {
		t.Errorf("an interrupted import changed the state:\n%s", r.stdout)
	}
}
