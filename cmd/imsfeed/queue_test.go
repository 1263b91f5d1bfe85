package main

import (
	"crypto/ed25519"
	"database/sql"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/lib/pq"
	"golang.org/x/crypto/ssh"

	"github.com/imsfeed/imsfeed/samples/feedgen"
)

// Issue 13: serve processes on one store are workers of one queue. Many tenants due every
// minute, several serve processes, kill -9 of one while it imports: exactly one decided run and
// one mail per tenant-slot, one import per tenant, the killed attempt mailed as interrupted.
// make test runs a small size; `make test-queue-full` the 200 tenants × 3 minutes
// (IMSFEED_QUEUE_TENANTS, IMSFEED_QUEUE_SLOTS).
func TestServeProcessesShareOneQueue(t *testing.T) {
	// Two minutes of waiting for the clock's slots, its processes on a store of their own: the
	// package's other tests that wait (t.Parallel) wait beside it.
	t.Parallel()
	tenants, slots := envInt("IMSFEED_QUEUE_TENANTS", 16), envInt("IMSFEED_QUEUE_SLOTS", 2)
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			storeURL, procs := "sqlite://"+filepath.Join(dir, "state.db"), 2
			if kind == "postgres" {
				storeURL, procs = freshDatabase(t, postgresURL(t)), 3
			}
			queueScenario(t, dir, storeURL, procs, tenants, slots)
		})
	}
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// freshDatabase creates a database of its own on the test server: river's tables and jobs of
// this test meet no other test's.
func freshDatabase(t *testing.T, admin string) string {
	t.Helper()
	db, err := sql.Open("postgres", admin)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	name := fmt.Sprintf("imsfeed_queue_%08x", rand.Uint32())
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("postgres", admin)
		if err == nil {
			db.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
			db.Close()
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

type slotRun struct {
	ID     int64 `json:"run"`
	Status string
	Slot   time.Time
	Error  *struct{ Message string }
}

func queueScenario(t *testing.T, dir, storeURL string, procs, tenants, slots int) {
	bigPersons := 20_000
	if underRace { // a race-built serve imports several times slower: as many seconds, within rescue_after
		bigPersons = 5_000
	}
	ids := make([]string, tenants)
	var cfg strings.Builder
	off := "{inserts: off, updates: off, deletes: off}"
	fmt.Fprintf(&cfg, "store: %q\ndata_dir: %s\nlock_wait: 2m\nqueue: {workers: 4, rescue_after: 30s}\ntenants:\n", storeURL, dir)
	small := writeFeedFile(t, dir, "small.xml", feedgen.Options{Persons: 60, Groups: 6, MembersPerGroup: 10, Seed: 5})
	data, _ := os.ReadFile(small)
	for i := range ids {
		ids[i] = fmt.Sprintf("q%03d-%06x", i, rand.Uint32()&0xffffff)
		folder := filepath.Join(dir, "sis", ids[i])
		os.MkdirAll(folder, 0o755)
		if i == 0 { // big: its import is long enough to be killed in
			writeFeedFile(t, folder, "export.xml", feedgen.Options{Persons: bigPersons, Groups: bigPersons / 10, MembersPerGroup: 30, Seed: 6})
		} else {
			os.WriteFile(filepath.Join(folder, "export.xml"), data, 0o644)
		}
		// Half in a zone of their own: a slot is read in the tenant's zone, still one per minute.
		zone := [2]string{"", "    timezone: Asia/Kolkata\n"}[i%2]
		fmt.Fprintf(&cfg, "  - id: %s\n    schedule: \"* * * * *\"\n%s    source: {url: \"file://%s\", settle: -1s}\n    safety: {persons: %s, groups: %s, memberships: %s}\n",
			ids[i], zone, folder, off, off, off)
	}
	// A tenant fed only live: its slots mail the live digest, one per slot, and fetch nothing.
	liveOnly := fmt.Sprintf("live-%06x", rand.Uint32()&0xffffff)
	os.WriteFile(filepath.Join(dir, "es-pass"), []byte("secret\n"), 0o600)
	fmt.Fprintf(&cfg, "  - id: %s\n    schedule: \"* * * * *\"\n    es: {username: %s, password_file: %s}\n", liveOnly, liveOnly, filepath.Join(dir, "es-pass"))
	cfgPath := filepath.Join(dir, "imsfeed.yaml")
	os.WriteFile(cfgPath, []byte(cfg.String()), 0o600)

	if s := time.Now().Second(); s > 45 { // let the leader be elected within the first slot
		time.Sleep(time.Duration(61-s) * time.Second)
	}
	begin := time.Now()
	first := begin.Truncate(time.Minute)
	last := first.Add(time.Duration(slots) * time.Minute)
	ps := make([]*proc, procs)
	bigStarted := make([]<-chan struct{}, procs)
	for i := range ps {
		ps[i] = start(t, dir, "--config", cfgPath, "serve")
		bigStarted[i] = ps[i].when(`msg="import started" tenant=` + ids[0])
	}
	// kill -9 whichever process imports the big tenant, in the middle of it.
	killed := -1
	for killed < 0 {
		for i := range ps {
			select {
			case <-bigStarted[i]:
				killed = i
			default:
			}
		}
		if killed < 0 {
			if time.Since(begin) > 2*time.Minute {
				t.Fatalf("no process started the big tenant's import in 2 minutes\n%s", ps[0].stderr())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	ps[killed].cmd.Process.Signal(syscall.SIGKILL)
	<-ps[killed].done
	t.Logf("killed process %d mid-import at %s", killed+1, time.Since(begin).Round(time.Second))

	// Every tenant's every slot in [first, last] decided (a completed or skipped run), then stop
	// before the next slot.
	decided := func() (map[string][]slotRun, bool) {
		all := map[string][]slotRun{}
		done := true
		for _, id := range ids {
			r := imsfeed(t, dir, "--config", cfgPath, "runs", "--tenant", id, "--limit", "1000", "--json")
			var list []slotRun
			if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
				t.Fatalf("runs: %v\n%s%s", err, r.stdout, r.stderr)
			}
			all[id] = list
			n := 0
			for _, x := range list {
				if (x.Status == "completed" || x.Status == "skipped") && !x.Slot.After(last) {
					n++
				}
			}
			done = done && n == slots+1
		}
		return all, done
	}
	var all map[string][]slotRun
	for ok := false; !ok; {
		if time.Now().After(last.Add(55 * time.Second)) {
			break
		}
		time.Sleep(2 * time.Second)
		all, ok = decided()
	}
	for i, p := range ps {
		if i != killed {
			p.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	for i, p := range ps {
		if i != killed && p.exitCode() != 0 {
			t.Errorf("serve %d: exit %d after SIGTERM\n%s", i+1, p.exitCode(), p.stderr())
		}
	}
	all, _ = decided()

	mails := map[string]int{}
	files, _ := filepath.Glob(filepath.Join(dir, "outbox", "*.eml"))
	for _, f := range files {
		for _, id := range ids {
			if strings.Contains(filepath.Base(f), "-"+id+"-run") {
				mails[id]++
			}
		}
	}
	killedHad := map[string]bool{}
	for _, id := range ids {
		killedHad[id] = strings.Contains(ps[killed].stderr(), "tenant="+id)
	}
	interrupted := 0
	for _, id := range ids {
		list := all[id]
		perSlot := map[time.Time]int{}
		completed := 0
		for _, x := range list {
			switch {
			case x.Status == "completed" || x.Status == "skipped":
				perSlot[x.Slot]++
				if x.Status == "completed" {
					completed++
				}
			case x.Status == "failed" && x.Error != nil && strings.Contains(x.Error.Message, "interrupted"):
				interrupted++
			default:
				t.Errorf("tenant %s: run %d %s %+v", id, x.ID, x.Status, x.Error)
			}
		}
		for s := first; !s.After(last); s = s.Add(time.Minute) {
			if perSlot[s.UTC()] != 1 {
				t.Errorf("tenant %s: slot %s has %d decided runs, want 1 (%+v)", id, s.Format("15:04"), perSlot[s.UTC()], list)
			}
		}
		for s, n := range perSlot {
			if n > 1 {
				t.Errorf("tenant %s: slot %s has %d decided runs", id, s.Format("15:04"), n)
			}
		}
		if completed != 1 {
			t.Errorf("tenant %s: %d completed imports, want 1", id, completed)
		}
		// A process killed between sending a run's mail and recording that it did leaves the
		// next attempt to mail it again: at least once, so a killed process's tenant may have
		// one more mail than runs; never fewer, and every other tenant exactly one per run.
		if n := len(list); mails[id] < n || mails[id] > n+1 || (mails[id] == n+1 && !killedHad[id]) {
			t.Errorf("tenant %s: %d mails for %d runs (the killed process worked it: %v)", id, mails[id], n, killedHad[id])
		}
	}
	digests, _ := filepath.Glob(filepath.Join(dir, "outbox", "*-"+liveOnly+"-run0*.eml"))
	if n := len(digests); n < slots+1 || n > slots+2 || (n == slots+2 && !strings.Contains(ps[killed].stderr(), "tenant="+liveOnly)) {
		t.Errorf("live-only tenant: %d digests for %d slots, want one each", n, slots+1)
	}
	if r := imsfeed(t, dir, "--config", cfgPath, "runs", "--tenant", liveOnly, "--json"); strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("live-only tenant has runs (it has no file to fetch): %s", r.stdout)
	}
	if interrupted == 0 {
		t.Errorf("the killed import was not recorded and mailed as interrupted")
	}
	if s := status(t, dir, cfgPath, ids[0]); s.StateVersion != 1 || s.Persons.Active != bigPersons {
		t.Errorf("big tenant after the kill: %+v, want its file imported once", s)
	}
}

// `imsfeed queue` names the zone of its times, as `imsfeed runs` does: a slot of "30 2 * * *" on
// a machine in Tokyo is 02:30 JST, not a bare 02:30 someone reads as UTC.
func TestQueueCommandNamesTheZoneOfItsSlots(t *testing.T) {
	t.Setenv("TZ", "Asia/Tokyo")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "imsfeed.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("store: sqlite://%s/state.db\ndata_dir: %s\ntenants:\n  - id: north\n    schedule: \"30 2 * * *\"\n    source: {url: %q}\n",
		dir, dir, "file://"+filepath.Join(dir, "in"))), 0o644)
	r := imsfeed(t, dir, "--config", cfg, "queue")
	if r.code != 0 || !regexp.MustCompile(`\n  \d{4}-\d\d-\d\d 02:30 JST +north\n`).MatchString(r.stdout) {
		t.Fatalf("imsfeed queue (exit %d):\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// A tenant's schedule is read in its timezone: on a UTC machine, "0 2 * * *" of an Oslo tenant
// is 02:00 in Oslo (01:00 UTC in winter, 00:00 in summer), and `imsfeed queue` and serve's "next
// run" line name the same instant.
func TestScheduleIsReadInTheTenantsTimezone(t *testing.T) {
	t.Setenv("TZ", "UTC")
	oslo, err := time.LoadLocation("Europe/Oslo")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "imsfeed.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("store: sqlite://%s/state.db\ndata_dir: %s\ntenants:\n  - id: north\n    schedule: \"0 2 * * *\"\n    timezone: Europe/Oslo\n    source: {url: %q}\n",
		dir, dir, "file://"+filepath.Join(dir, "in"))), 0o644)
	now := time.Now().In(oslo)
	want := time.Date(now.Year(), now.Month(), now.Day(), 2, 0, 0, 0, oslo)
	if !want.After(now) {
		want = time.Date(now.Year(), now.Month(), now.Day()+1, 2, 0, 0, 0, oslo)
	}
	r := imsfeed(t, dir, "--config", cfg, "queue")
	if r.code != 0 || !strings.Contains(r.stdout, "Next slots (1 tenant scheduled)\n  "+want.UTC().Format("2006-01-02 15:04 MST")+"  north\n") {
		t.Errorf("imsfeed queue (exit %d), want north's next slot at %s:\n%s%s", r.code, want.UTC().Format(time.DateTime), r.stdout, r.stderr)
	}
	p := start(t, dir, "--config", cfg, "serve")
	logged := p.when(`msg="next run"`)
	select {
	case <-logged:
	case <-time.After(20 * time.Second):
		t.Fatalf("serve logged no next run:\n%s", p.stderr())
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.done
	line := regexp.MustCompile(`msg="next run".*`).FindString(p.stderr())
	if !strings.Contains(line, fmt.Sprintf(`next="%s"`, want.UTC().Format("2006-01-02 15:04:05 MST"))) ||
		!strings.Contains(line, fmt.Sprintf(`tenant_time="%s"`, want.Format("2006-01-02 15:04:05 MST"))) {
		t.Errorf("serve's next run line, want north's next slot at %s (%s in Oslo):\n%s", want.UTC().Format(time.DateTime), want.Format("15:04 MST"), line)
	}
}

// retryingServe starts `imsfeed serve` on kind's store with one tenant in zone whose SFTP server
// refuses connections, a passing failure: serve tries the slot, waits 5 s, tries again, and
// retry_until (set from the clock) ends the retries there, so the second attempt records the
// failure and mails it.
func retryingServe(t *testing.T, kind, zone string) (dir, cfg, tenant string, p *proc) {
	t.Helper()
	dir = t.TempDir()
	storeURL := "sqlite://" + filepath.Join(dir, "state.db")
	if kind == "postgres" {
		storeURL = freshDatabase(t, postgresURL(t))
	}
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(key, "")
	if err != nil {
		t.Fatal(err)
	}
	keyFile, knownHosts := filepath.Join(dir, "id_ed25519"), filepath.Join(dir, "known_hosts")
	os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600)
	os.WriteFile(knownHosts, nil, 0o644)
	// The slot is the minute serve starts in; retry_until counts from it. The first attempt
	// comes a second or two after the start, the second 5 s after the first fails, the third
	// would come 20 s later: past retry_until, so the second attempt is the last.
	if s := time.Now().Second(); s > 40 {
		time.Sleep(time.Duration(61-s) * time.Second)
	}
	until := time.Now().Second() + 15
	tenant = tenantID("retry")
	cfg = filepath.Join(dir, "imsfeed.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`store: %q
data_dir: %s
tenants:
  - id: %s
    schedule: "* * * * *"
    timezone: %s
    retry_until: %ds
    subscribers: [it@%s.example.org]
    source: {url: "sftp://sis@127.0.0.1:%d/out", known_hosts: %s, key_file: %s, settle: -1s}
`, storeURL, filepath.Join(dir, "data"), tenant, zone, until, tenant, freePort(t), knownHosts, keyFile)), 0o600)
	return dir, cfg, tenant, start(t, dir, "--config", cfg, "serve")
}

// The mail of a slot's last attempt lists the earlier attempts with date and the tenant's
// zone, as its Started line: a bare "02:00:05" of the server's clock reads as the tenant's.
func TestLastRetryMailDatesEarlierAttemptsInTheTenantsZone(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			begin := time.Now()
			dir, cfg, tenant, p := retryingServe(t, kind, "Asia/Tokyo")
			finished := p.when(`msg="slot finished"`)
			select {
			case <-finished:
			case <-time.After(time.Minute):
				t.Fatalf("the slot's last attempt did not finish\n%s", p.stderr())
			}
			p.cmd.Process.Signal(syscall.SIGTERM)
			<-p.done
			files, _ := filepath.Glob(filepath.Join(dir, "data", "outbox", "*-"+tenant+"-run*.eml"))
			if len(files) != 1 {
				t.Fatalf("%d mails, want the last attempt's one\n%s", len(files), p.stderr())
			}
			raw, _ := os.ReadFile(files[0])
			mail := readable(string(raw))
			m := regexp.MustCompile(`after 1 earlier attempts: attempt 1 at (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) JST: fetch: .*connection refused`).FindStringSubmatch(mail)
			if m == nil {
				t.Fatalf("the mail does not list the first attempt with its date and JST:\n%s", mail)
			}
			tokyo, _ := time.LoadLocation("Asia/Tokyo")
			at, _ := time.ParseInLocation("2006-01-02 15:04:05", m[1], tokyo)
			if at.Before(begin.Add(-time.Second)) || at.After(time.Now()) {
				t.Errorf("first attempt at %s JST (%s UTC), want between the test's start %s and now", m[1], at.UTC().Format(time.TimeOnly), begin.UTC().Format(time.TimeOnly))
			}
			if !strings.Contains(mail, "Started "+at.Format("2006-01-02")) {
				t.Errorf("the mail's Started line is not on the first attempt's date %s:\n%s", at.Format("2006-01-02"), mail)
			}
			if r := runStatuses(t, dir, cfg, tenant); len(r) != 1 || r[0] != "failed" {
				t.Errorf("runs %v, want the one failed run of the last attempt", r)
			}
		})
	}
}

// `imsfeed queue` shows a slot waiting for its retry for the whole wait, with when it is tried
// next: also the first wait, 5 s, which river keeps as an "available" job with a future time.
func TestQueueShowsASlotWaitingForItsFirstRetry(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			dir, cfg, tenant, p := retryingServe(t, kind, "Europe/Oslo")
			failed := p.when(`msg="slot failed; it is tried again"`)
			select {
			case <-failed:
			case <-time.After(time.Minute):
				t.Fatalf("the slot's first attempt did not fail\n%s", p.stderr())
			}
			failedAt := time.Now()
			retrying := regexp.MustCompile(`(?m)^Retrying \(1\)\n  job \d+ +` + tenant + ` +slot [^\n]* +attempt 1 failed: fetch: [^\n]*connection refused; next (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \w+)$`)
			// The attempt's end reaches the queue a moment after its log line.
			running := regexp.MustCompile(`(?m)^Running \(1\)\n  job \d+ +` + tenant + ` +slot [^\n]* +attempt 1 on `)
			// Asked throughout the wait (the retry comes 5 s after the failure), the queue
			// lists the slot as retrying, next tried about 5 s after the failure.
			polls := 0
			for time.Since(failedAt) < 3500*time.Millisecond {
				r := imsfeed(t, dir, "--config", cfg, "queue")
				m := retrying.FindStringSubmatch(r.stdout)
				if m == nil && polls == 0 && running.MatchString(r.stdout) {
					continue
				}
				if r.code != 0 || m == nil {
					t.Fatalf("%s after the first attempt failed, imsfeed queue (exit %d) does not show the slot waiting for its retry:\n%s%s",
						time.Since(failedAt).Round(time.Millisecond), r.code, r.stdout, r.stderr)
				}
				next, err := time.ParseInLocation("2006-01-02 15:04:05 MST", m[1], time.Local)
				if err != nil {
					t.Fatal(err)
				}
				if d := next.Sub(failedAt); d < 3*time.Second || d > 6*time.Second {
					t.Errorf("next try %s, %s after the failure; want about 5 s", m[1], d.Round(time.Millisecond))
				}
				polls++
			}
			if polls == 0 {
				t.Fatalf("the slot was never shown retrying in the 3.5 s after its failure")
			}
			t.Logf("%d polls showed the slot retrying", polls)
			p.cmd.Process.Signal(syscall.SIGTERM)
			<-p.done
		})
	}
}

// serve's log at INFO is an operator's: river's "nil returned from periodic job constructor"
// for every tenant not due at start-up (no slot to insert) is written at DEBUG only.
func TestServeLogsNoRiverNoiseAtStartUp(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "imsfeed.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("store: sqlite://%s/state.db\ndata_dir: %s\ntenants:\n  - id: north\n    schedule: \"0 0 1 1 *\"\n    source: {url: %q}\n",
		dir, dir, "file://"+filepath.Join(dir, "in"))), 0o644)
	p := start(t, dir, "--config", cfg, "--log-level", "debug", "serve")
	skipped := p.when("nil returned from periodic job constructor")
	select {
	case <-skipped:
	case <-time.After(30 * time.Second):
		t.Fatalf("serve's leader inserted no slot and said nothing of it:\n%s", p.stderr())
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.done
	for _, line := range strings.Split(p.stderr(), "\n") {
		if strings.Contains(line, "nil returned from periodic job constructor") && !strings.Contains(line, "level=DEBUG") {
			t.Errorf("river's no-slot line above DEBUG: %s", line)
		}
	}
}
