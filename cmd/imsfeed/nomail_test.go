package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	_ "modernc.org/sqlite"

	"github.com/imsfeed/imsfeed/samples/feedgen"
)

// "No mail means no attempt": every attempt is mailed, also when the store cannot be reached at
// the start, goes away mid-run, or the process is killed.

// startInbox runs a real SMTP server on 127.0.0.1 and returns it with its port.
func startInbox(t *testing.T) (*inbox, int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	box := &inbox{}
	srv := smtp.NewServer(box)
	srv.Domain = "localhost"
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return box, l.Addr().(*net.TCPAddr).Port
}

// mailsOf returns the received mails about run id (0: attempts without a run number), decoded
// and with every run of white space made one space, as a reader sees the text.
func (b *inbox) mailsOf(id int64) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, m := range b.mail {
		if !strings.Contains(m, fmt.Sprintf("X-Imsfeed-Run: %d\r\n", id)) {
			continue
		}
		out = append(out, readable(m))
	}
	return out
}

var space = regexp.MustCompile(`\s+`)

// readable undoes quoted-printable's soft line breaks (what the tests look for is ASCII).
func readable(raw string) string {
	return space.ReplaceAllString(strings.ReplaceAll(raw, "=\r\n", ""), " ")
}

// mailConfig writes dir/imsfeed.yaml: one tenant on storeURL with a subscriber, mail to the
// SMTP server on port (0: no smtp block, the outbox folder), safety limits off.
func mailConfig(t *testing.T, dir, storeURL, tenant string, port int) string {
	t.Helper()
	smtpBlock := ""
	if port != 0 {
		smtpBlock = fmt.Sprintf("smtp: {host: 127.0.0.1, port: %d, tls: none, from: \"imsfeed <imsfeed@example.org>\", timeout: 5s}\n", port)
	}
	off := "{inserts: off, updates: off, deletes: off}"
	cfg := fmt.Sprintf(`store: %q
data_dir: %s
lock_wait: 5s
%stenants:
  - id: %s
    subscribers: [it@%s.example.org]
    safety: {persons: %s, groups: %s, memberships: %s}
`, storeURL, filepath.Join(dir, "data"), smtpBlock, tenant, tenant, off, off, off)
	p := filepath.Join(dir, "imsfeed.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

type runJSON struct {
	ID         int64 `json:"run"`
	Status     string
	Mail       string
	Unrecorded bool
	Attention  []struct{ Kind, Message string }
	Error      *struct{ Message string }
}

func decodeRun(t *testing.T, r result) runJSON {
	t.Helper()
	var run runJSON
	if err := json.Unmarshal([]byte(r.stdout), &run); err != nil {
		t.Fatalf("exit %d, output is not a run: %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	return run
}

// A store that cannot be reached when the import starts (a PostgreSQL URL to a closed port; an
// SQLite file that is not a database) still gives a mail, from SMTP or the outbox folder.
func TestStoreUnreachableAtStartIsMailed(t *testing.T) {
	t.Run("postgres closed port, smtp", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		box, port := startInbox(t)
		cfg := mailConfig(t, dir, fmt.Sprintf("postgres://imsfeed@127.0.0.1:%d/imsfeed?sslmode=disable", freePort(t)), "north", port)
		n1 := writeDemo(t, dir, "night1.xml")
		r := imsfeed(t, dir, "--config", cfg, "import", "--tenant", "north", "--json", n1)
		run := decodeRun(t, r)
		if r.code != 1 || run.Status != "failed" || !run.Unrecorded || run.Mail != "sent" || run.Error == nil ||
			!strings.Contains(run.Error.Message, "state store unreachable") || !strings.Contains(run.Error.Message, "connection refused") {
			t.Fatalf("import with the store down: exit %d, %+v\n%s", r.code, run, r.stderr)
		}
		got := box.mailsOf(0)
		if len(got) != 1 || !strings.Contains(got[0], "FAILED") || !strings.Contains(got[0], "state store unreachable") ||
			!strings.Contains(got[0], "nothing was read or applied") || !strings.Contains(got[0], "it@north.example.org") {
			t.Fatalf("want one mail saying the store could not be reached, got %d:\n%s", len(got), got)
		}
		// The nightly command too, one mail per tenant.
		r = imsfeed(t, dir, "--config", cfg, "run", "--all", "--json")
		if r.code != 1 || len(box.mailsOf(0)) != 2 {
			t.Errorf("run --all with the store down: exit %d, %d mails; want 1 and a second mail\n%s", r.code, len(box.mailsOf(0)), r.stderr)
		}
	})
	t.Run("sqlite not a database, outbox", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		db := filepath.Join(dir, "state.db")
		os.WriteFile(db, bytes.Repeat([]byte("this is not an SQLite database "), 200), 0o600)
		cfg := mailConfig(t, dir, "sqlite://"+db, "north", 0)
		n1 := writeDemo(t, dir, "night1.xml")
		r := imsfeed(t, dir, "--config", cfg, "import", "--tenant", "north", n1)
		if r.code != 1 || !strings.Contains(r.stdout, "not recorded") {
			t.Fatalf("import on a broken SQLite file: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		mails, _ := filepath.Glob(filepath.Join(dir, "data", "outbox", "*.eml"))
		if len(mails) != 1 {
			t.Fatalf("outbox holds %v, want the attempt's mail", mails)
		}
		raw, _ := os.ReadFile(mails[0])
		if m := readable(string(raw)); !strings.Contains(m, "state store unreachable") || !strings.Contains(m, "night1.xml") {
			t.Errorf("the mail does not say the store could not be reached:\n%s", m)
		}
	})
}

// proxy forwards 127.0.0.1:port to a PostgreSQL server; cut makes the server vanish for the
// clients behind it (connections dropped, new ones refused), as a stopped server would.
type proxy struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
}

func startProxy(t *testing.T, addr, target string) *proxy {
	t.Helper()
	var l net.Listener
	var err error
	for i := 0; i < 50; i++ {
		if l, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{l: l, target: target}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { io.Copy(s, c); s.Close() }()
			go func() { io.Copy(c, s); c.Close() }()
		}
	}()
	t.Cleanup(p.cut)
	return p
}

func (p *proxy) cut() {
	p.l.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// PostgreSQL going away mid-run: the run is mailed as failed with the real cause at once; the
// next run closes its record with that cause (not "the process ended") and its mail says so.
func TestStoreLostMidRunIsMailedWithItsCause(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(postgresURL(t))
	if err != nil || u.Host == "" {
		t.Skipf("IMSFEED_TEST_POSTGRES_URL has no host to put a proxy in front of")
	}
	target := u.Host
	p := startProxy(t, "127.0.0.1:0", target)
	addr := p.l.Addr().String()
	u.Host = addr
	dir := t.TempDir()
	tenant := tenantID("lost")
	box, port := startInbox(t)
	cfg := mailConfig(t, dir, u.String(), tenant, port)
	bo := feedgen.Options{Persons: 8_000, Groups: 800, MembersPerGroup: 40, Seed: 5}
	ao := bo
	ao.DropPercent = 95
	a, b := writeFeedFile(t, dir, "a.xml", ao), writeFeedFile(t, dir, "b.xml", bo)
	if r := imsfeed(t, dir, "--config", cfg, "import", "--tenant", tenant, a); r.code != 0 {
		t.Fatalf("import A: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	proc := start(t, dir, "--config", cfg, "import", "--tenant", tenant, "--json", b)
	started := proc.when(`msg="import started"`)
	select {
	case <-started:
	case <-proc.done:
		t.Fatalf("import B ended before it started\n%s", proc.stderr())
	case <-time.After(time.Minute):
		t.Fatalf("import B did not start\n%s", proc.stderr())
	}
	p.cut() // PostgreSQL is gone
	<-proc.done
	var run runJSON
	if err := json.Unmarshal(proc.stdout.Bytes(), &run); err != nil || proc.exitCode() != 1 || run.Status != "failed" || run.ID == 0 {
		t.Fatalf("import B with the store gone: exit %d, %v, %+v\n%s\n%s", proc.exitCode(), err, run, proc.stdout.String(), proc.stderr())
	}
	if run.Error == nil || !strings.Contains(run.Error.Message, "could not record this failure") {
		t.Errorf("the run does not say its failure could not be recorded: %+v", run.Error)
	}
	got := box.mailsOf(run.ID)
	if len(got) != 1 || !strings.Contains(got[0], "FAILED") || !strings.Contains(got[0], "could not record this failure") {
		t.Fatalf("want run %d mailed once as failed with its cause, got %d mails:\n%s", run.ID, len(got), got)
	}

	startProxy(t, addr, target) // PostgreSQL is back
	if s := runStatuses(t, dir, cfg, tenant); len(s) == 0 || s[0] != "running" {
		t.Fatalf("runs after the loss: %v, want run %d still running in the store", s, run.ID)
	}
	r := imsfeed(t, dir, "--config", cfg, "import", "--tenant", tenant, "--json", b)
	next := decodeRun(t, r)
	if r.code != 0 || next.Status != "completed" {
		t.Fatalf("import B again: exit %d, %+v\n%s", r.code, next, r.stderr)
	}
	closed := decodeRun(t, imsfeed(t, dir, "--config", cfg, "show", fmt.Sprint(run.ID), "--json"))
	if closed.Status != "failed" || closed.Error == nil || !strings.Contains(closed.Error.Message, "could not record this then") ||
		strings.Contains(closed.Error.Message, "process") {
		t.Errorf("the lost run was closed as %+v; want failed with the store's cause, not a process that ended", closed)
	}
	if got := box.mailsOf(run.ID); len(got) != 1 {
		t.Errorf("the lost run was mailed %d times, want once", len(got))
	}
	mails := box.mailsOf(next.ID)
	want := fmt.Sprintf("run %d (started", run.ID)
	if len(mails) != 1 || !strings.Contains(mails[0], want) || !strings.Contains(mails[0], "was interrupted at") ||
		!strings.Contains(mails[0], "nothing of it was applied: the state store was lost") {
		t.Errorf("the next run's mail does not name the interrupted run and its cause:\n%s", mails)
	}
}

// kill -9 of an import: the next run closes the killed run, mails it (its own mail, late), and
// its own mail names it.
func TestKilledRunIsMailedByTheNextRun(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			storeURL := "sqlite://" + filepath.Join(dir, "state.db")
			if kind == "postgres" {
				storeURL = postgresURL(t)
			}
			tenant := tenantID("killed")
			box, port := startInbox(t)
			cfg := mailConfig(t, dir, storeURL, tenant, port)
			b := writeFeedFile(t, dir, "b.xml", feedgen.Options{Persons: 8_000, Groups: 800, MembersPerGroup: 40, Seed: 7})

			proc := start(t, dir, "--config", cfg, "import", "--tenant", tenant, b)
			started := proc.when(`msg="import started"`)
			select {
			case <-started:
			case <-proc.done:
				t.Fatalf("import ended before it started\n%s", proc.stderr())
			case <-time.After(time.Minute):
				t.Fatalf("import did not start\n%s", proc.stderr())
			}
			proc.cmd.Process.Signal(syscall.SIGKILL)
			<-proc.done
			r := imsfeed(t, dir, "--config", cfg, "runs", "--tenant", tenant, "--json")
			var list []runJSON
			if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list) != 1 || list[0].Status != "running" {
				t.Fatalf("runs after kill -9: %v %+v\n%s", err, list, r.stderr)
			}
			killed := list[0].ID
			if n := len(box.mailsOf(killed)); n != 0 {
				t.Fatalf("the killed run has %d mails already", n)
			}

			r = imsfeed(t, dir, "--config", cfg, "import", "--tenant", tenant, "--json", b)
			next := decodeRun(t, r)
			if r.code != 0 || next.Status != "completed" {
				t.Fatalf("next import: exit %d, %+v\n%s", r.code, next, r.stderr)
			}
			own := box.mailsOf(killed)
			if len(own) != 1 || !strings.Contains(own[0], "FAILED") || !strings.Contains(own[0], "process running it ended") {
				t.Errorf("the killed run was not mailed as interrupted by a process that ended:\n%s", own)
			}
			mails := box.mailsOf(next.ID)
			want := regexp.MustCompile(fmt.Sprintf(`run %d \(started [^)]*\) was interrupted after its last sign of life at [^:]*:\d\d:\d\d \w+ and nothing of it was applied: the process running it ended`, killed))
			if len(mails) != 1 || !want.MatchString(mails[0]) {
				t.Errorf("the next run's mail does not name the killed run:\n%s", mails)
			}
		})
	}
}

// holdWrites keeps the store from committing tenant's next apply until release: SQLite's one
// write transaction, or PostgreSQL's lock of the tenant's row, which an apply takes first.
func holdWrites(t *testing.T, kind, storeURL, tenant string) (release func()) {
	t.Helper()
	driver, dsn := "postgres", storeURL
	if kind == "sqlite" {
		driver, dsn = "sqlite", strings.TrimPrefix(storeURL, "sqlite://")+"?_txlock=immediate&_pragma=busy_timeout(30000)"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin()
	if err == nil && kind == "postgres" {
		_, err = tx.Exec(`SELECT 1 FROM tenants WHERE id = $1 FOR UPDATE`, tenant)
	}
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	return func() { tx.Rollback(); db.Close() }
}

// A killed run is closed by the next run as having worked until its last sign of life, and
// found dead then: its duration (mail, `show`, --json) is the time it worked, not the time
// until the next run came, and the mail says when it was found dead. The import is kept alive
// and waiting at its apply for 3 s (the store held), killed, and left dead for 4 s.
func TestKilledRunShowsHowLongItWorked(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			storeURL := "sqlite://" + filepath.Join(dir, "state.db")
			if kind == "postgres" {
				storeURL = postgresURL(t)
			}
			tenant := tenantID("dead")
			box, port := startInbox(t)
			cfg := mailConfig(t, dir, storeURL, tenant, port)
			bo := feedgen.Options{Persons: 4_000, Groups: 400, MembersPerGroup: 40, Seed: 7}
			ao := bo
			ao.DropPercent = 50
			a, b := writeFeedFile(t, dir, "a.xml", ao), writeFeedFile(t, dir, "b.xml", bo)
			if r := imsfeed(t, dir, "--config", cfg, "import", "--tenant", tenant, a); r.code != 0 {
				t.Fatalf("import A: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}

			proc := start(t, dir, "--config", cfg, "import", "--tenant", tenant, b)
			started := proc.when(`msg="import started"`)
			select {
			case <-started:
			case <-proc.done:
				t.Fatalf("import B ended before it started\n%s", proc.stderr())
			case <-time.After(time.Minute):
				t.Fatalf("import B did not start\n%s", proc.stderr())
			}
			startedAt := time.Now()
			release := holdWrites(t, kind, storeURL, tenant)
			time.Sleep(3 * time.Second)
			proc.cmd.Process.Signal(syscall.SIGKILL)
			<-proc.done
			killedAt := time.Now()
			release()
			if st := runStatuses(t, dir, cfg, tenant); len(st) != 2 || st[0] != "running" {
				t.Fatalf("runs after kill -9: %v, want B's run still running", st)
			}
			time.Sleep(4 * time.Second) // dead

			nextAt := time.Now()
			r := imsfeed(t, dir, "--config", cfg, "import", "--tenant", tenant, "--json", b)
			next := decodeRun(t, r)
			if r.code != 0 || next.Status != "completed" {
				t.Fatalf("import B again: exit %d, %+v\n%s", r.code, next, r.stderr)
			}
			// The run before it of this tenant (run numbers are the store's: on PostgreSQL the
			// tests beside this one number theirs in between).
			var list []struct {
				ID int64 `json:"run"`
			}
			if r := imsfeed(t, dir, "--config", cfg, "runs", "--tenant", tenant, "--json"); json.Unmarshal([]byte(r.stdout), &list) != nil || len(list) != 3 || list[0].ID != next.ID {
				t.Fatalf("runs of the tenant after the next import: %s", r.stdout)
			}
			killed := list[1].ID

			worked := killedAt.Sub(startedAt)
			var run struct {
				Duration    float64   `json:"duration_seconds"`
				AliveAt     time.Time `json:"alive_at"`
				FoundDeadAt time.Time `json:"found_dead_at"`
			}
			r = imsfeed(t, dir, "--config", cfg, "show", fmt.Sprint(killed), "--json")
			if err := json.Unmarshal([]byte(r.stdout), &run); err != nil {
				t.Fatalf("show --json: %v\n%s%s", err, r.stdout, r.stderr)
			}
			if d := time.Duration(run.Duration * float64(time.Second)); d < worked-1500*time.Millisecond || d > worked+500*time.Millisecond {
				t.Errorf("the killed run's duration_seconds is %s; it worked %s before the kill (and lay dead %s more)", d, worked.Round(time.Millisecond), nextAt.Sub(killedAt).Round(time.Millisecond))
			}
			if run.AliveAt.After(killedAt) || run.FoundDeadAt.Before(nextAt.Add(-time.Second)) || run.FoundDeadAt.After(time.Now()) {
				t.Errorf("alive_at %s, found_dead_at %s; killed at %s, the next run started at %s", run.AliveAt, run.FoundDeadAt, killedAt, nextAt)
			}

			t.Logf("worked %s, dead %s: duration_seconds %.3f", worked.Round(time.Millisecond), nextAt.Sub(killedAt).Round(time.Millisecond), run.Duration)
			mails := box.mailsOf(killed)
			if len(mails) != 1 {
				t.Fatalf("%d mails of the killed run, want 1", len(mails))
			}
			m := regexp.MustCompile(`Duration (\S+), up to its last sign of life at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \w+`).FindStringSubmatch(mails[0])
			if m == nil {
				t.Fatalf("the killed run's mail does not say how long it worked:\n%s", mails[0])
			}
			if d, err := time.ParseDuration(m[1]); err != nil || d > worked+500*time.Millisecond {
				t.Errorf("the mail's duration %s (%v), it worked %s", m[1], err, worked.Round(time.Millisecond))
			}
			if !regexp.MustCompile(`Found dead \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \w+, by the tenant's next run`).MatchString(mails[0]) {
				t.Errorf("the killed run's mail does not say when it was found dead:\n%s", mails[0])
			}
			if r := imsfeed(t, dir, "--config", cfg, "show", fmt.Sprint(killed)); !strings.Contains(r.stdout, "(worked ") || !strings.Contains(r.stdout, "found dead at ") {
				t.Errorf("show %d does not say how long it worked and when it was found dead:\n%s", killed, r.stdout)
			}
		})
	}
}

// freePort is a port on 127.0.0.1 nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// An SQLite file another process keeps write-locked past the busy timeout: the attempt is
// still mailed (here to the outbox folder).
func TestSQLiteLockedAtStartIsMailed(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out SQLite's 30 s busy timeout")
	}
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "state.db")
	cfg := mailConfig(t, dir, "sqlite://"+db, "north", 0)
	n1, n2 := writeDemo(t, dir, "night1.xml"), writeDemo(t, dir, "night2.xml")
	if r := imsfeed(t, dir, "--config", cfg, "import", "--tenant", "north", n1); r.code != 0 {
		t.Fatalf("import: exit %d\n%s", r.code, r.stderr)
	}
	before, _ := filepath.Glob(filepath.Join(dir, "data", "outbox", "*.eml"))

	locker, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close()
	conn, err := locker.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	r := imsfeed(t, dir, "--config", cfg, "import", "--tenant", "north", "--json", n2)
	conn.ExecContext(context.Background(), "ROLLBACK")
	run := decodeRun(t, r)
	if r.code != 1 || run.Status != "failed" || run.Error == nil || !strings.Contains(run.Error.Message, "locked") {
		t.Fatalf("import on a locked SQLite file: exit %d, %+v\n%s", r.code, run, r.stderr)
	}
	after, _ := filepath.Glob(filepath.Join(dir, "data", "outbox", "*.eml"))
	if len(after) != len(before)+1 {
		t.Fatalf("outbox went from %d to %d mails, want the locked attempt's mail", len(before), len(after))
	}
}
