package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/imsfeed/imsfeed/archive"
	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/console"
	"github.com/imsfeed/imsfeed/importer"
	"github.com/imsfeed/imsfeed/mailer"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/samples/feedgen"
	"github.com/imsfeed/imsfeed/store"
	"github.com/imsfeed/imsfeed/store/postgres"
	"github.com/imsfeed/imsfeed/store/sqlite"
	"github.com/imsfeed/imsfeed/store/storetest"
)

const password = "correct horse battery staple"

// stores runs a test on SQLite and, when a test server is given, on PostgreSQL (required
// under CI).
func stores(t *testing.T, test func(t *testing.T, st store.Store)) {
	storesURL(t, func(t *testing.T, st store.Store, _ string) { test(t, st) })
}

// storesURL is stores with the store's URL, for what opens the store by URL (the queue).
func storesURL(t *testing.T, test func(t *testing.T, st store.Store, url string)) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "state.db")
		s, err := sqlite.Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		test(t, s, "sqlite://"+path)
	})
	t.Run("postgres", func(t *testing.T) {
		u := storetest.PostgresURL(t)
		s, err := postgres.Open(context.Background(), u)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		test(t, s, u)
	})
}

// world is two tenants, one with a held run (30% of its persons gone), and the console over
// HTTPS. Kari sees both tenants, Ola only the other one.
type world struct {
	t      *testing.T
	st     store.Store
	cfg    *config.Config
	im     *importer.Importer
	srv    *httptest.Server
	tenant string // the one with the held run
	other  string
	held   *runs.Run
}

func newWorld(t *testing.T, st store.Store) *world {
	dir := t.TempDir()
	id := fmt.Sprintf("c%08x", rand.Uint32())
	other := id + "-other"
	tn, to := config.DefaultTenant(id), config.DefaultTenant(other)
	tn.Name, to.Name = "Northside school owner", "Southside school owner"
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	pw := filepath.Join(dir, "kari.bcrypt")
	if err := os.WriteFile(pw, append(hash, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{DataDir: dir, Spool: filepath.Join(dir, "spool"), Outbox: filepath.Join(dir, "outbox"), LockWait: 5e9,
		Tenants: []config.Tenant{tn, to},
		HTTP:    &config.HTTP{Listen: "127.0.0.1:0"},
		Operators: []config.Operator{
			{Name: "Kari Nordmann", Email: "kari@example.org", PasswordFile: pw},
			{Name: "Ola", Email: "ola@example.org", PasswordFile: pw, Tenants: []string{other}},
		}}
	w := &world{t: t, st: st, cfg: cfg, tenant: id, other: other}
	w.im = importer.New(importer.Params{Config: cfg, Store: st, Mailer: mailer.New(nil, cfg.Outbox, nil)})
	imp := func(name string, o feedgen.Options) *runs.Run {
		o.Persons, o.Groups, o.MembersPerGroup, o.Seed = 300, 30, 10, 7
		var buf bytes.Buffer
		if err := feedgen.Write(&buf, o); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := w.im.ImportFile(context.Background(), &cfg.Tenants[0], p, importer.ImportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := imp("n1.xml", feedgen.Options{}); r.Status != runs.Completed {
		t.Fatalf("first night: %s", r.Status)
	}
	w.held = imp("n2.xml", feedgen.Options{DropPercent: 30, RenamePercent: 10})
	if w.held.Status != runs.Held {
		t.Fatalf("broken night: %s, want held", w.held.Status)
	}
	c, err := console.New(console.Params{Config: cfg, Store: st, Importer: w.im})
	if err != nil {
		t.Fatal(err)
	}
	w.srv = httptest.NewTLSServer(c)
	t.Cleanup(w.srv.Close)
	return w
}

// client is one browser: its own cookies, no automatic redirects, so each answer is seen.
type client struct {
	w *world
	c *http.Client
}

func (w *world) client() *client {
	jar, _ := cookiejar.New(nil)
	c := *w.srv.Client() // a copy: each browser its own cookie jar
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &client{w: w, c: &c}
}

func (c *client) get(path string) (int, string) {
	c.w.t.Helper()
	resp, err := c.c.Get(c.w.srv.URL + path)
	if err != nil {
		c.w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusSeeOther {
		return resp.StatusCode, resp.Header.Get("Location")
	}
	return resp.StatusCode, string(b)
}

func (c *client) post(path string, form url.Values) (int, string) {
	c.w.t.Helper()
	resp, err := c.c.PostForm(c.w.srv.URL+path, form)
	if err != nil {
		c.w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusSeeOther {
		return resp.StatusCode, resp.Header.Get("Location")
	}
	return resp.StatusCode, string(b)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF field in the page:\n%s", page)
	}
	return m[1]
}

func (c *client) signIn(login, pw string) (int, string) {
	c.w.t.Helper()
	_, page := c.get("/login")
	return c.post("/login", url.Values{"csrf": {csrfOf(c.w.t, page)}, "login": {login}, "password": {pw}})
}

func TestSignInApproveHeldRunInTheConsole(t *testing.T) {
	stores(t, func(t *testing.T, st store.Store) {
		w := newWorld(t, st)
		b := w.client()
		if code, loc := b.get("/"); code != http.StatusSeeOther || loc != "/login" {
			t.Fatalf("a visitor is not sent to sign in: %d %s", code, loc)
		}
		if code, loc := b.signIn("KARI@example.org", password); code != http.StatusSeeOther || loc != "/" {
			t.Fatalf("sign-in: %d %s", code, loc)
		}
		code, page := b.get("/")
		if code != 200 || !strings.Contains(page, "Northside school owner") || !strings.Contains(page, fmt.Sprintf(`href="/runs/%d" class="held"`, w.held.ID)) {
			t.Fatalf("tenants page does not show the held run (%d):\n%s", code, page)
		}
		if !strings.Contains(page, "n1.xml") {
			t.Fatalf("tenants page does not show the last good file:\n%s", page)
		}

		code, page = b.get(fmt.Sprintf("/runs/%d", w.held.ID))
		if code != 200 || !strings.Contains(page, "Limits crossed") || !strings.Contains(page, `id="removals"`) || !strings.Contains(page, "Approve and apply as Kari Nordmann") {
			t.Fatalf("held run page (%d):\n%s", code, page)
		}
		// The file's size as the mail writes it: binary units and the exact bytes.
		if f := w.held.File; f.Size < 1024 || !regexp.MustCompile(regexp.QuoteMeta(runs.SizeText(f.Size))+` \([0-9,]+ bytes\)`).MatchString(page) {
			t.Errorf("held run page: the file's size %d is not written as %s:\n%s", f.Size, runs.SizeText(f.Size), page)
		}
		// The removals' tail counts the rows it leaves out (a row is a group and role) and the
		// groups they come from.
		if rest := heldRemovals(t, w)[30:]; !strings.Contains(page, fmt.Sprintf("… and %d more (from %d groups), none losing more.", len(rest), groupsIn(rest))) {
			t.Errorf("held run page: no tail of %d more rows from %d groups:\n%s", len(rest), groupsIn(rest), page)
		}
		// Without a reason nothing is decided.
		tok := csrfOf(t, page)
		if code, _ := b.post(fmt.Sprintf("/runs/%d/approve", w.held.ID), url.Values{"csrf": {tok}, "reason": {"  "}}); code != http.StatusUnprocessableEntity {
			t.Fatalf("approve without a reason: %d", code)
		}
		code, loc := b.post(fmt.Sprintf("/runs/%d/approve", w.held.ID), url.Values{"csrf": {tok}, "reason": {"pupils moved to another school owner"}})
		if code != http.StatusSeeOther || loc != fmt.Sprintf("/runs/%d", w.held.ID) {
			t.Fatalf("approve: %d %s", code, loc)
		}
		r, err := st.Run(context.Background(), w.held.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != runs.Completed || r.Approval == nil || r.Approval.By != "Kari Nordmann" || r.Approval.Reason != "pupils moved to another school owner" {
			t.Fatalf("run after approval: status %s, approval %+v", r.Status, r.Approval)
		}
		s, _ := st.Status(context.Background(), w.tenant)
		if s.Persons.Trashed != w.held.Counts.Persons.Deleted {
			t.Fatalf("approval did not apply the plan: %d trashed, plan %d", s.Persons.Trashed, w.held.Counts.Persons.Deleted)
		}
		_, page = b.get(fmt.Sprintf("/runs/%d", w.held.ID))
		if !strings.Contains(page, `id="status">completed`) || !strings.Contains(page, "Approved by <strong>Kari Nordmann</strong>") {
			t.Fatalf("run page after approval:\n%s", page)
		}
		// Approving again is the importer's refusal, shown on the page.
		code, page = b.post(fmt.Sprintf("/runs/%d/approve", w.held.ID), url.Values{"csrf": {tok}, "reason": {"again"}})
		if code != http.StatusConflict || !strings.Contains(page, "already approved by Kari Nordmann") {
			t.Fatalf("second approval (%d):\n%s", code, page)
		}
		// History lists both runs.
		_, page = b.get("/tenants/" + w.tenant)
		if strings.Count(page, `<a href="/runs/`) != 2 {
			t.Fatalf("run history:\n%s", page)
		}
	})
}

func TestConsoleRefusesAPostWithoutTheCSRFToken(t *testing.T) {
	w := newWorld(t, sqliteStore(t))
	b := w.client()
	b.signIn("kari@example.org", password)
	for _, form := range []url.Values{{"reason": {"ok"}}, {"reason": {"ok"}, "csrf": {"forged"}}} {
		if code, _ := b.post(fmt.Sprintf("/runs/%d/approve", w.held.ID), form); code != http.StatusForbidden {
			t.Fatalf("POST with csrf %q: %d, want 403", form.Get("csrf"), code)
		}
	}
	// A token of another session does not do either.
	other := w.client()
	other.signIn("kari@example.org", password)
	_, page := other.get(fmt.Sprintf("/runs/%d", w.held.ID))
	if code, _ := b.post(fmt.Sprintf("/runs/%d/reject", w.held.ID), url.Values{"reason": {"ok"}, "csrf": {csrfOf(t, page)}}); code != http.StatusForbidden {
		t.Fatalf("another session's token: %d, want 403", code)
	}
	// The sign-in form has its own token.
	if code, _ := w.client().post("/login", url.Values{"login": {"kari@example.org"}, "password": {password}}); code != http.StatusForbidden {
		t.Fatalf("sign-in without the form's token: %d", code)
	}
	if r, _ := w.st.Run(context.Background(), w.held.ID); r.Status != runs.Held {
		t.Fatalf("a refused POST decided the run: %s", r.Status)
	}
}

func TestConsoleWrongPasswordIsSlowedDown(t *testing.T) {
	w := newWorld(t, sqliteStore(t))
	b := w.client()
	for i := 0; i < 3; i++ {
		if code, page := b.signIn("kari@example.org", "wrong"); code != http.StatusUnauthorized || !strings.Contains(page, "Wrong name or password") {
			t.Fatalf("wrong password %d: %d", i, code)
		}
	}
	// After three failures even the right password waits.
	if code, page := b.signIn("kari@example.org", password); code != http.StatusTooManyRequests || !strings.Contains(page, "try again in") {
		t.Fatalf("sign-in right after failures: %d\n%s", code, page)
	}
	if code, _ := b.signIn("nobody@example.org", password); code != http.StatusTooManyRequests {
		t.Fatalf("the same address with another name is slowed down too: %d", code)
	}
	if code, _ := b.get("/"); code != http.StatusSeeOther {
		t.Fatalf("not signed in, yet / answers %d", code)
	}
}

func TestConsoleOperatorOfOtherTenantSeesNothingOfThisOne(t *testing.T) {
	w := newWorld(t, sqliteStore(t))
	b := w.client()
	b.signIn("ola@example.org", password)
	_, page := b.get("/")
	if strings.Contains(page, "Northside") || !strings.Contains(page, "Southside") {
		t.Fatalf("Ola's tenants page:\n%s", page)
	}
	for _, p := range []string{fmt.Sprintf("/runs/%d", w.held.ID), "/tenants/" + w.tenant} {
		if code, _ := b.get(p); code != http.StatusNotFound {
			t.Fatalf("GET %s: %d, want 404", p, code)
		}
	}
	_, page = b.get("/tenants/" + w.other)
	tok := csrfOf(t, page)
	if code, _ := b.post(fmt.Sprintf("/runs/%d/approve", w.held.ID), url.Values{"csrf": {tok}, "reason": {"mine now"}}); code != http.StatusNotFound {
		t.Fatalf("approve another tenant's run: %d, want 404", code)
	}
	if r, _ := w.st.Run(context.Background(), w.held.ID); r.Status != runs.Held {
		t.Fatalf("run decided by an operator who does not see it: %s", r.Status)
	}
}

func sqliteStore(t *testing.T) store.Store {
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestMetricsCountRunsHoldsLastSuccessAndMail(t *testing.T) {
	stores(t, func(t *testing.T, st store.Store) {
		w := newWorld(t, st)
		h := console.Metrics(console.MetricsParams{Config: w.cfg, Store: st,
			MailStats: func() mailer.Stats { return mailer.Stats{Sent: 3, DeadLettered: 1, QueueLength: 2} }})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		body := rec.Body.String()
		for _, want := range []string{
			fmt.Sprintf(`imsfeed_runs{status="completed",tenant="%s"} 1`, w.tenant),
			fmt.Sprintf(`imsfeed_runs{status="held",tenant="%s"} 1`, w.tenant),
			fmt.Sprintf(`imsfeed_held_runs_waiting{tenant="%s"} 1`, w.tenant),
			fmt.Sprintf(`imsfeed_held_runs_waiting{tenant="%s"} 0`, w.other),
			fmt.Sprintf(`imsfeed_last_success_timestamp_seconds{tenant="%s"} `, w.tenant),
			"imsfeed_store_up 1",
			"imsfeed_mail_sent_total 3",
			"imsfeed_mail_dead_lettered_total 1",
			"imsfeed_mail_queue_length 2",
		} {
			if !strings.Contains(body, want) {
				t.Errorf("/metrics lacks %q", want)
			}
		}
		if t.Failed() || rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") {
			t.Fatalf("/metrics (%d, %s):\n%s", rec.Code, rec.Header().Get("Content-Type"), body)
		}
	})
}

// heldRemovals is where the world's held run removes persons from, as the mail and the page
// count them: against the state the plan was made from (the held run changed nothing).
func heldRemovals(t *testing.T, w *world) []archive.GroupRemovals {
	t.Helper()
	ctx := context.Background()
	data, err := w.im.PlanBytes(ctx, w.held.ID)
	if err != nil {
		t.Fatal(err)
	}
	var plan change.Plan
	if err := json.Unmarshal(data, &plan); err != nil {
		t.Fatal(err)
	}
	st, err := w.st.LoadState(ctx, w.tenant)
	if err != nil {
		t.Fatal(err)
	}
	rows := archive.Removals(&plan, st)
	if len(rows) <= 30 {
		t.Fatalf("the held run removes persons from %d rows; the test needs more than the page lists (30)", len(rows))
	}
	return rows
}

// groupsIn counts the groups rows come from.
func groupsIn(rows []archive.GroupRemovals) int {
	seen := map[string]bool{}
	for _, r := range rows {
		seen[r.Group] = true
	}
	return len(seen)
}
