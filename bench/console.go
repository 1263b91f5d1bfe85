package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httptrace"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/console"
	"github.com/imsfeed/imsfeed/importer"
	"github.com/imsfeed/imsfeed/mailer"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/samples/feedgen"
	"github.com/imsfeed/imsfeed/store"
	"github.com/imsfeed/imsfeed/store/postgres"
	"github.com/imsfeed/imsfeed/store/sqlite"
)

// The console case measures the held run's page on a hold of over 500,000 changes (issue 12):
// a tenant of 102,000 persons in 12,240 groups (about 920,000 memberships) is imported, then a
// broken night that leaves out half the persons (their memberships with them) and renames a
// tenth of the rest is held. A signed-in client then asks the console, over HTTPS, for the held
// run's page and times its first byte: the first view (which reads the stored plan and the
// state into the page's index), the first page again, a search by key, a search by name, and
// page 100. SQLite; it makes its own files (in IMSFEED_BENCH_STATE_DIR, else next to FILE) and
// runs once. IMSFEED_BENCH_CONSOLE_PERSONS makes the tenant smaller (for its test).
const (
	consolePersons    = 102000
	envConsolePersons = "IMSFEED_BENCH_CONSOLE_PERSONS"
	consoleTries      = 5 // warm views: the fastest of these counts
)

func consoleCase() benchCase {
	return benchCase{
		name:  "console-held",
		about: "the console's held-run page on a hold of >500,000 changes: time to first byte (SQLite)",
		once:  true,
		phased: func(ctx context.Context, f *os.File) (map[string]int, map[string]float64, error) {
			return consoleHeld(ctx, f.Name())
		},
	}
}

func consoleHeld(ctx context.Context, file string) (map[string]int, map[string]float64, error) {
	base := os.Getenv(envStateDir)
	if base == "" {
		base = filepath.Dir(file)
	}
	dir, err := os.MkdirTemp(base, "bench-console-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(dir)
	persons := consolePersons
	if n, err := strconv.Atoi(os.Getenv(envConsolePersons)); err == nil && n > 0 {
		persons = n
	}
	phases := map[string]float64{}
	counts := map[string]int{}

	// The tenant and its broken night, imported for real.
	start := time.Now()
	hash, err := bcrypt.GenerateFromPassword([]byte("bench"), bcrypt.MinCost)
	if err != nil {
		return nil, nil, err
	}
	pw := filepath.Join(dir, "operator.bcrypt")
	if err := os.WriteFile(pw, hash, 0o600); err != nil {
		return nil, nil, err
	}
	t := config.DefaultTenant("bench-console")
	cfg := &config.Config{DataDir: dir, Spool: filepath.Join(dir, "spool"), Outbox: filepath.Join(dir, "outbox"), LockWait: time.Minute,
		Tenants: []config.Tenant{t}, HTTP: &config.HTTP{Listen: "127.0.0.1:0"},
		Operators: []config.Operator{{Name: "Bench", Email: "bench@example.org", PasswordFile: pw}}}
	st, err := sqlite.Open(ctx, filepath.Join(dir, "state.db"))
	if err != nil {
		return nil, nil, err
	}
	defer st.Close()
	im := importer.New(importer.Params{Config: cfg, Store: st, Mailer: mailer.New(nil, cfg.Outbox, nil)})
	groups := max(persons*12/100, 10)
	var held *runs.Run
	size := 0
	for i, o := range []feedgen.Options{{}, {DropPercent: 50, RenamePercent: 10}} {
		o.Persons, o.Groups, o.MembersPerGroup, o.Seed = persons, groups, 75, 12
		p := filepath.Join(dir, fmt.Sprintf("night%d.xml", i+1))
		f, err := os.Create(p)
		if err != nil {
			return nil, nil, err
		}
		err = feedgen.Write(f, o)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, nil, err
		}
		if fi, err := os.Stat(p); err == nil {
			size += int(fi.Size())
		}
		r, err := im.ImportFile(ctx, &cfg.Tenants[0], p, importer.ImportOptions{})
		if err != nil {
			return nil, nil, err
		}
		if want := []runs.Status{runs.Completed, runs.Held}[i]; r.Status != want {
			return nil, nil, fmt.Errorf("night %d: run %s, want %s", i+1, r.Status, want)
		}
		held = r
		os.Remove(p)
	}
	c := held.Counts
	counts["changes"] = c.Persons.Inserted + c.Persons.Updated + c.Persons.Deleted + c.Groups.Inserted + c.Groups.Updated + c.Groups.Deleted +
		c.Memberships.Inserted + c.Memberships.Deleted + c.Memberships.Archived
	counts["bytes"] = size
	// The peak of the imports: the tenant's load and the broken night's hold. Read before the
	// bench's own reads below (the plan streamed to count it, every held change for
	// heldStoreTimes), which are not the product's.
	counts["hold_peak_rss_mb"] = int(vmHWM() >> 20)
	if r, err := im.PlanReader(ctx, held.ID); err == nil {
		n, _ := io.Copy(io.Discard, r)
		r.Close()
		counts["plan_mb"] = int(n >> 20)
	}
	phases["import"] = time.Since(start).Seconds()

	var logged syncBuffer
	con, err := console.New(console.Params{Config: cfg, Store: st, Importer: im, Log: slog.New(slog.NewJSONHandler(&logged, nil))})
	if err != nil {
		return nil, nil, err
	}
	srv := httptest.NewTLSServer(con)
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // httptest's own certificate
	if err := consoleSignIn(ctx, client, srv.URL); err != nil {
		return nil, nil, err
	}
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	run := fmt.Sprintf("%s/runs/%d", srv.URL, held.ID)
	views := []struct{ phase, url, want string }{
		{"ttfb-first", run, "changes; page 1 of"},
		{"ttfb-page1", run, "changes; page 1 of"},
		{"ttfb-search-key", run + "?q=" + url.QueryEscape(fmt.Sprintf("P%07d", persons/2+1)), "changes match"},
		{"ttfb-search-name", run + "?q=hansen", "changes match"},
		{"ttfb-page100", run + "?page=100", "page 100 of"},
		{"ttfb-last", run + "?page=999999", "changes; page"},
		{"ttfb-type", run + "?type=groups", "changes match"},
	}
	for _, v := range views {
		tries := consoleTries
		if v.phase == "ttfb-first" {
			tries = 1
		}
		best := time.Duration(-1)
		for range tries {
			d, n, err := ttfb(ctx, client, v.url, v.want)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", v.phase, err)
			}
			if best < 0 || d < best {
				best = d
			}
			counts["page_kb"] = max(counts["page_kb"], n>>10)
		}
		phases[v.phase] = best.Seconds()
	}
	// The peak so far: the imports, then the console's views of the hold.
	counts["views_peak_rss_mb"] = int(vmHWM() >> 20)
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	// What the views left on the heap: the console keeps nothing of a hold between them.
	counts["heap_growth_kb"] = int(int64(after.HeapAlloc)-int64(before.HeapAlloc)) >> 10
	if err := heldStoreTimes(ctx, st, held, persons, phases); err != nil {
		return nil, nil, err
	}
	if err := approveHeld(ctx, im, held, counts, phases); err != nil {
		return nil, nil, err
	}
	return counts, phases, nil
}

// syncBuffer is a bytes.Buffer for a logger's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

var consoleCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func consoleSignIn(ctx context.Context, client *http.Client, base string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/login", nil)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := consoleCSRF.FindSubmatch(page)
	if m == nil {
		return fmt.Errorf("sign-in page without a CSRF token")
	}
	// Not on to the tenants page: it would start reading the held run, and the first view is
	// to be measured cold.
	noFollow := *client
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err = noFollow.PostForm(base+"/login", url.Values{"csrf": {string(m[1])}, "login": {"bench@example.org"}, "password": {"bench"}})
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		return fmt.Errorf("sign-in: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	return nil
}

// ttfb asks for a page and returns the time from sending the request to its first byte, and
// the page's size; the page must contain want.
func ttfb(ctx context.Context, client *http.Client, u, want string) (time.Duration, int, error) {
	var sent, first time.Time
	trace := &httptrace.ClientTrace{
		WroteRequest:         func(httptrace.WroteRequestInfo) { sent = time.Now() },
		GotFirstResponseByte: func() { first = time.Now() },
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, u, nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, 0, err
	}
	if resp.StatusCode != http.StatusOK || !regexp.MustCompile(regexp.QuoteMeta(want)).Match(body) {
		return 0, 0, fmt.Errorf("GET %s: %s, page without %q", u, resp.Status, want)
	}
	return first.Sub(sent), len(body), nil
}

// heldStoreTimes measures the store's side of the held-run page on both stores: the hold's
// rows written again (SQLite, then PostgreSQL when IMSFEED_BENCH_POSTGRES_URL is set, in a
// schema of its own, dropped after), and the queries of a view, the fastest of a few tries.
func heldStoreTimes(ctx context.Context, sq store.Store, held *runs.Run, persons int, phases map[string]float64) error {
	all, err := sq.HeldChanges(ctx, held.ID, store.HeldQuery{AllTypes: true, Limit: 1 << 30})
	if err != nil {
		return err
	}
	idx := &store.HeldIndex{Removals: all.Removals, Changes: func(yield func(*store.HeldChange) bool) {
		for i := range all.Changes {
			if !yield(&all.Changes[i]) {
				return
			}
		}
	}}
	start := time.Now()
	if err := sq.IndexHeld(ctx, held.ID, idx); err != nil {
		return err
	}
	phases["sqlite-hold-rows"] = time.Since(start).Seconds()
	if err := heldQueryTimes(ctx, "sqlite", sq, held.ID, persons, phases); err != nil {
		return err
	}

	base := os.Getenv(envPostgres)
	if base == "" {
		return nil
	}
	schema := fmt.Sprintf("imsfeed_bench_console_%d", os.Getpid())
	db, err := sql.Open("postgres", base)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	defer db.ExecContext(context.WithoutCancel(ctx), "DROP SCHEMA IF EXISTS "+schema+" CASCADE") //nolint:errcheck // a bench's cleanup
	u, err := url.Parse(base)
	if err != nil {
		return err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	pg, err := postgres.Open(ctx, u.String())
	if err != nil {
		return err
	}
	defer pg.Close()
	run := &runs.Run{Tenant: held.Tenant, Status: runs.Held, StartedAt: held.StartedAt, PlanSHA256: held.PlanSHA256}
	if err := pg.CreateRun(ctx, run); err != nil {
		return err
	}
	start = time.Now()
	if err := pg.HoldRun(ctx, run, store.WholePlan([]byte("{}")), idx); err != nil {
		return err
	}
	phases["pg-hold-rows"] = time.Since(start).Seconds()
	return heldQueryTimes(ctx, "pg", pg, run.ID, persons, phases)
}

// heldQueryTimes times the store queries of the page's views.
func heldQueryTimes(ctx context.Context, kind string, s store.Store, id int64, persons int, phases map[string]float64) error {
	for _, v := range []struct {
		phase string
		q     store.HeldQuery
	}{
		{"page1", store.HeldQuery{AllTypes: true}},
		{"search-key", store.HeldQuery{AllTypes: true, Search: fmt.Sprintf("P%07d", persons/2+1)}},
		{"search-name", store.HeldQuery{AllTypes: true, Search: "hansen"}},
		{"page100", store.HeldQuery{AllTypes: true, Offset: 99 * 50}},
		{"last", store.HeldQuery{AllTypes: true, Offset: 1 << 30}},
	} {
		best := time.Duration(-1)
		for range consoleTries {
			start := time.Now()
			p, err := s.HeldChanges(ctx, id, v.q)
			if err != nil {
				return fmt.Errorf("%s %s: %w", kind, v.phase, err)
			}
			if v.q.Offset == 1<<30 { // the last page, as the console asks for it after the count
				q := v.q
				q.Offset = (p.Matched - 1) / 50 * 50
				if _, err := s.HeldChanges(ctx, id, q); err != nil {
					return err
				}
			}
			if d := time.Since(start); best < 0 || d < best {
				best = d
			}
		}
		phases[kind+"-"+v.phase] = best.Seconds()
	}
	return nil
}

// approveHeld approves the hold as an operator would and measures it: its time, and the
// process's peak RSS during it (VmHWM, reset just before; Linux), and the peak before it. With
// IMSFEED_BENCH_CPUPROFILE set it writes the approval's CPU profile there
// (console-held.approve.pprof).
func approveHeld(ctx context.Context, im *importer.Importer, held *runs.Run, counts map[string]int, phases map[string]float64) error {
	runtime.GC()
	debug.FreeOSMemory()
	reset := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	before := vmHWM()
	if dir := os.Getenv(envCPUProfile); dir != "" {
		pf, err := os.Create(filepath.Join(dir, "console-held.approve.pprof"))
		if err != nil {
			return err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	if _, err := im.Approve(ctx, importer.Decision{RunID: held.ID, By: "bench", Reason: "bench"}); err != nil {
		return fmt.Errorf("approve: %w", err)
	}
	phases["approve"] = time.Since(start).Seconds()
	if reset == nil && before > 0 {
		counts["approve_rss_before_mb"] = int(before >> 20)
		counts["approve_peak_rss_mb"] = int(vmHWM() >> 20)
	}
	return nil
}

// vmHWM is the process's peak resident set since it started or since /proc/self/clear_refs
// was told 5 (0 where /proc does not say).
func vmHWM() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
