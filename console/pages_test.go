package console_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/console"
	"github.com/imsfeed/imsfeed/importer"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/samples/feedgen"
	"github.com/imsfeed/imsfeed/store"
)

// Issue 12: the tenants page shows a pause; a failed run has its page with the error's line and
// column; and no page needs a script or anything from another host (the console works on a
// network without internet, and without JavaScript).
func TestConsolePagesShowPauseAndFailedRunWithoutScriptsOrOutsideAssets(t *testing.T) {
	w := newWorld(t, sqliteStore(t))
	w.cfg.Tenants[1].Paused = true
	bad := filepath.Join(t.TempDir(), "broken.xml")
	if err := os.WriteFile(bad, []byte("<enterprise>\n  <person><sourcedid><id>P1</id></sourcedid>\n  <oops\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	failed, _ := w.im.ImportFile(context.Background(), &w.cfg.Tenants[1], bad, importer.ImportOptions{})
	if failed == nil || failed.Status != runs.Failed {
		t.Fatalf("a broken file: %+v", failed)
	}
	b := w.client()
	b.signIn("kari@example.org", password)
	_, page := b.get("/")
	south := page[strings.Index(page, "Southside school owner"):]
	if !strings.Contains(south, "paused: tenant is paused (paused: true)") || strings.Contains(page[:strings.Index(page, "Southside school owner")], "paused:") {
		t.Fatalf("the paused tenant's row:\n%s", page)
	}
	code, page := b.get(fmt.Sprintf("/runs/%d", failed.ID))
	if code != http.StatusOK || !strings.Contains(page, `id="status">failed`) || !regexp.MustCompile(`<p class="error">line \d+:\d+: `).MatchString(page) {
		t.Fatalf("the failed run's page (%d):\n%s", code, page)
	}
	outside := regexp.MustCompile(`(?i)<script|\son[a-z]+=|(src|href|action)="(https?:)?//|url\(`)
	for _, p := range []string{"/", fmt.Sprintf("/runs/%d", w.held.ID), fmt.Sprintf("/runs/%d", failed.ID), "/tenants/" + w.tenant,
		"/tenants/" + w.tenant + "/trash", "/tenants/" + w.tenant + "/archive", "/tenants/" + w.tenant + "/live", "/queue",
		"/tenants/" + w.tenant + "/objects?q=a", "/no/such/page"} {
		_, page := b.get(p)
		if m := outside.FindString(page); m != "" {
			t.Errorf("%s has %q: a script or something from another host", p, m)
		}
	}
	_, page = w.client().get("/login")
	if m := outside.FindString(page); m != "" {
		t.Errorf("/login has %q", m)
	}
}

// Issue 12: an operator of no tenant (tenants: []) signs in and sees nothing: no tenant on the
// tenants page or the queue, and every tenant's pages answer "Not found".
func TestConsoleOperatorOfNoTenantSeesNothing(t *testing.T) {
	w := newWorld(t, sqliteStore(t))
	w.cfg.Operators = append(w.cfg.Operators, config.Operator{Name: "Per", Email: "per@example.org",
		PasswordFile: w.cfg.Operators[0].PasswordFile, Tenants: []string{}})
	c, err := console.New(console.Params{Config: w.cfg, Store: w.st, Importer: w.im})
	if err != nil {
		t.Fatal(err)
	}
	w.srv = httptest.NewTLSServer(c) // the operators are read when the console starts
	t.Cleanup(w.srv.Close)
	b := w.client()
	if code, _ := b.signIn("per@example.org", password); code != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", code)
	}
	_, page := b.get("/")
	if !strings.Contains(page, "You see no tenants.") || strings.Contains(page, "Northside") || strings.Contains(page, "Southside") {
		t.Fatalf("the tenants page of an operator of no tenant:\n%s", page)
	}
	if _, page := b.get("/queue"); strings.Contains(page, w.tenant) || strings.Contains(page, w.other) {
		t.Fatalf("the queue of an operator of no tenant:\n%s", page)
	}
	for _, p := range []string{fmt.Sprintf("/runs/%d", w.held.ID), "/tenants/" + w.tenant, "/tenants/" + w.other + "/trash",
		"/tenants/" + w.other + "/live", "/tenants/" + w.tenant + "/objects?q=a"} {
		if code, page := b.get(p); code != http.StatusNotFound || !strings.Contains(page, "Not found") {
			t.Errorf("GET %s: %d, want 404", p, code)
		}
	}
}

// The console writes a tenant's times in the tenant's timezone, as its mail does, with the
// zone's abbreviation: the server's own zone (UTC here) is no operator's clock. Tokyo has no
// summer time, so the abbreviation is always JST, nine hours on from UTC.
func TestConsolePagesShowTimesInTheTenantsZone(t *testing.T) {
	w := newWorld(t, sqliteStore(t))
	w.cfg.Tenants[0].Timezone = "Asia/Tokyo"
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Minute).Truncate(time.Second)
	e := store.LiveEntry{At: at, Tenant: w.tenant, Dialect: "imses", Operation: "createPerson", MessageID: "m-1", Keys: []string{"P1"}, CodeMajor: "success"}
	if err := w.st.(store.Live).LiveApply(context.Background(), store.LiveApplyParams{Entry: &e, Now: at}); err != nil {
		t.Fatal(err)
	}
	started := w.held.StartedAt.In(tokyo)
	want := `<time datetime="` + started.Format(time.RFC3339) + `"><span class="nw">` + started.Format("2006-01-02") + `</span> ` + started.Format("15:04") + ` JST</time>`
	b := w.client()
	b.signIn("kari@example.org", password)
	for _, p := range []string{"/", "/tenants/" + w.tenant, fmt.Sprintf("/runs/%d", w.held.ID)} {
		if _, page := b.get(p); !strings.Contains(page, want) {
			t.Errorf("%s does not show the held run's start in the tenant's zone, %s:\n%s", p, want, page)
		}
	}
	_, page := b.get("/tenants/" + w.tenant + "/live")
	if stamp := at.In(tokyo).Format("2006-01-02 15:04:05") + " JST"; !strings.Contains(section(page, "live"), stamp) {
		t.Errorf("the live log does not show its request at %s:\n%s", stamp, page)
	}
}

// A held school-year rollover's page says what it is: no file (the rollover read none; its
// reason names the years), and, once a night changed the state, that the approval plans the
// rollover again (as `approve` does) rather than that it will be refused.
func TestConsoleRolloverPageNamesNoFile(t *testing.T) {
	stores(t, func(t *testing.T, st store.Store) {
		w := newWorld(t, st)
		tn := &w.cfg.Tenants[1]
		tn.Courses.Types, tn.Courses.Archive = []string{"Course"}, true
		tn.SchoolYear = &config.SchoolYear{Current: "2026-27"}
		night := func(name string, o feedgen.Options) {
			o.Persons, o.Groups, o.MembersPerGroup, o.Seed = 100, 20, 5, 3
			var buf bytes.Buffer
			if err := feedgen.Write(&buf, o); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(t.TempDir(), name)
			if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			if r, err := w.im.ImportFile(context.Background(), tn, p, importer.ImportOptions{}); err != nil || r.Status != runs.Completed {
				t.Fatalf("%s: %v %+v", name, err, r)
			}
		}
		night("n1.xml", feedgen.Options{})
		held, err := w.im.Rollover(context.Background(), tn, importer.RolloverParams{To: "2027-28", By: "Kari", Reason: "new school year"})
		if err != nil || held.Status != runs.Held {
			t.Fatalf("rollover: %v %+v", err, held)
		}
		b := w.client()
		b.signIn("kari@example.org", password)
		page := func() string {
			t.Helper()
			code, page := b.get(fmt.Sprintf("/runs/%d", held.ID))
			if code != http.StatusOK {
				t.Fatalf("the rollover's page: %d\n%s", code, page)
			}
			return page
		}
		p := page()
		if !strings.Contains(p, "File —") || strings.Contains(p, "File rollover") || !strings.Contains(p, "school-year rollover 2026-27 → 2027-28 asked by Kari") {
			t.Errorf("the rollover's page names a file or not the rollover:\n%s", p)
		}
		night("n2.xml", feedgen.Options{RenamePercent: 5})
		p = page()
		if strings.Contains(p, "approval will be refused") || !strings.Contains(p, "approval plans the rollover again") {
			t.Errorf("after a night, the rollover's page does not say its approval plans it again:\n%s", p)
		}
		if r, err := w.im.Approve(context.Background(), importer.Decision{RunID: held.ID, By: "Kari", Reason: "agreed"}); err != nil || r.Status != runs.Completed {
			t.Errorf("the approval the page promises: %v %+v", err, r)
		}
	})
}

// The page of a run whose process died says how long it worked, up to its last sign of life,
// and when the tenant's next run found it dead, not a finish two minutes after its work ended.
func TestConsoleRunPageOfAKilledRunSaysHowLongItWorked(t *testing.T) {
	stores(t, func(t *testing.T, st store.Store) {
		w := newWorld(t, st)
		ctx := context.Background()
		// The record a killed import leaves: running, with its last sign of life 19 s in.
		started := time.Now().Add(-2 * time.Minute).UTC().Truncate(time.Second)
		dead := &runs.Run{Tenant: w.tenant, Status: runs.Running, Mode: "snapshot", StartedAt: started, File: runs.File{Name: "n3.xml", Size: 1}}
		if err := st.CreateRun(ctx, dead); err != nil {
			t.Fatal(err)
		}
		if err := st.MarkAlive(ctx, dead.ID, started.Add(19*time.Second)); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := feedgen.Write(&buf, feedgen.Options{Persons: 300, Groups: 30, MembersPerGroup: 10, Seed: 7}); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "n3.xml")
		os.WriteFile(p, buf.Bytes(), 0o644)
		found := time.Now().Truncate(time.Second)
		if _, err := w.im.ImportFile(ctx, &w.cfg.Tenants[0], p, importer.ImportOptions{}); err != nil {
			t.Fatal(err)
		}
		b := w.client()
		b.signIn("kari@example.org", password)
		_, page := b.get(fmt.Sprintf("/runs/%d", dead.ID))
		want := "worked 19s, up to its last sign of life at " + started.Add(19*time.Second).Local().Format(runs.TimeLayout) + " · found dead at "
		m := regexp.MustCompile(regexp.QuoteMeta(want) + `([^:]+:\d\d:\d\d \w+)`).FindStringSubmatch(page)
		if m == nil || strings.Contains(page, "· finished") {
			t.Fatalf("the killed run's page does not say %q and when (and no finish):\n%s", want, page)
		}
		if at, err := time.ParseInLocation(runs.TimeLayout, m[1], time.Local); err != nil || at.Before(found) || at.After(time.Now()) {
			t.Errorf("found dead at %s (%v), want when the next run ran, %s", m[1], err, found.Format(runs.TimeLayout))
		}
	})
}

// The live requests page names each request by its id, as es log, approval refusals ("named by
// what live request 4 changed") and repeats ("repeat of request N") do.
func TestConsoleLivePageNamesRequestsByID(t *testing.T) {
	stores(t, func(t *testing.T, st store.Store) {
		w := newWorld(t, st)
		l := w.st.(store.Live)
		at := time.Now().Add(-time.Minute).Truncate(time.Second)
		for i, op := range []string{"createPerson", "deletePerson"} {
			e := store.LiveEntry{At: at.Add(time.Duration(i) * time.Second), Tenant: w.tenant, Dialect: "imses1", Operation: op, MessageID: "m", Keys: []string{"P1"}, CodeMajor: "success"}
			if err := l.LiveApply(context.Background(), store.LiveApplyParams{Entry: &e, Now: e.At}); err != nil {
				t.Fatal(err)
			}
		}
		log, err := l.LiveEntries(context.Background(), store.LiveLogParams{Tenant: w.tenant})
		if err != nil || len(log) != 2 {
			t.Fatalf("es log: %v %+v", err, log)
		}
		b := w.client()
		b.signIn("kari@example.org", password)
		_, page := b.get("/tenants/" + w.tenant + "/live")
		rows := section(page, "live")
		for _, e := range log {
			cell := fmt.Sprintf(`<td class="n" data-label="Request">%d</td>`, e.ID)
			if _, row, ok := strings.Cut(rows, cell); !ok || !strings.HasPrefix(strings.TrimSpace(row[strings.Index(row, "</td>")+5:]), `<td data-label="Operation">`+e.Operation) {
				t.Errorf("the live page does not name request %d (%s) by its id:\n%s", e.ID, e.Operation, rows)
			}
		}
	})
}
