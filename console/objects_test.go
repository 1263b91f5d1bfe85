package console_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/importer"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/samples/feedgen"
	"github.com/imsfeed/imsfeed/store"
)

// night imports a feedgen file for the world's tenant and approves it when it is held.
func (w *world) night(name string, o feedgen.Options) {
	t := w.t
	t.Helper()
	r := w.importGen(name, o)
	if r.Status == runs.Held {
		var err error
		if r, err = w.im.Approve(context.Background(), importer.Decision{RunID: r.ID, By: "test", Reason: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	if r.Status != runs.Completed {
		t.Fatalf("%s: %s", name, r.Status)
	}
}

// importGen imports a feedgen file of the world's size for its tenant.
func (w *world) importGen(name string, o feedgen.Options) *runs.Run {
	t := w.t
	t.Helper()
	o.Persons, o.MembersPerGroup, o.Seed = 300, 10, 7
	var buf bytes.Buffer
	if err := feedgen.Write(&buf, o); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := w.im.ImportFile(context.Background(), &w.cfg.Tenants[0], p, importer.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Issue 12: the trash can and the archive in the console, with restore as `imsfeed trash
// restore` and `archive restore` do (the same store functions); another tenant's operator gets
// 404 for both.
func TestConsoleTrashAndArchiveRestore(t *testing.T) {
	stores(t, func(t *testing.T, st store.Store) {
		w := newWorld(t, st)
		ctx := context.Background()
		if _, err := w.im.Approve(ctx, importer.Decision{RunID: w.held.ID, By: "test", Reason: "test"}); err != nil {
			t.Fatal(err)
		}
		w.night("n3.xml", feedgen.Options{Groups: 20, DropPercent: 30})
		trash, err := st.ListTrash(ctx, w.tenant)
		if err != nil || len(trash) == 0 {
			t.Fatalf("trash: %d, %v", len(trash), err)
		}
		archived, err := st.ListArchived(ctx, w.tenant)
		if err != nil || len(archived) == 0 {
			t.Fatalf("archive: %d, %v", len(archived), err)
		}

		b := w.client()
		b.signIn("kari@example.org", password)
		for kind, items := range map[string][]store.Item{"trash": trash, "archive": archived} {
			path := "/tenants/" + w.tenant + "/" + kind
			code, page := b.get(path)
			key := items[0].Key
			if code != 200 || !strings.Contains(section(page, "items"), fmt.Sprintf(`value="%s"`, key)) {
				t.Fatalf("GET %s: %d, lacks %s:\n%s", path, code, key, page)
			}
			// The key leads to what is stored of it.
			if !strings.Contains(section(page, "items"), fmt.Sprintf(`<a href="/tenants/%s/%s/%s">%s</a>`, w.tenant, obj(kind), key, key)) {
				t.Fatalf("GET %s: the key %s does not link to its page:\n%s", path, key, page)
			}
			if code, page := b.get(fmt.Sprintf("/tenants/%s/%s/%s", w.tenant, obj(kind), key)); code != 200 || !strings.Contains(page, `<span class="held">`) {
				t.Fatalf("the page of %s in the %s (%d) does not say so:\n%s", key, kind, code, page)
			}
			if code, _ := b.post(path+"/restore", url.Values{"key": {key}}); code != http.StatusForbidden {
				t.Fatalf("restore without the CSRF token: %d, want 403", code)
			}
			code, loc := b.post(path+"/restore", url.Values{"csrf": {csrfOf(t, page)}, "key": {key}})
			if code != http.StatusSeeOther || loc != path+"?restored=1" {
				t.Fatalf("restore %s: %d %s", key, code, loc)
			}
			_, page = b.get(loc)
			if strings.Contains(section(page, "items"), fmt.Sprintf(`value="%s"`, key)) || !strings.Contains(page, `id="restored">Restored 1 `) {
				t.Fatalf("after the restore the %s page still lists %s or does not say so:\n%s", kind, key, page)
			}
			// Restoring it again is refused and changes nothing.
			if code, page := b.post(path+"/restore", url.Values{"csrf": {csrfOf(t, page)}, "key": {key, items[1].Key}}); code != http.StatusConflict || !strings.Contains(page, "nothing was restored") {
				t.Fatalf("restore of a key no longer there: %d\n%s", code, page)
			}
		}
		// Each restore is a run of its own in the history, naming the signed-in operator; the
		// refused ones recorded nothing.
		rs, err := st.ListRuns(ctx, store.ListRunsParams{Tenant: w.tenant, Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		for i, want := range []string{"1 course(s) restored from the archive by Kari Nordmann", "1 person(s) restored from the trash can by Kari Nordmann"} {
			got := rs[0].Reason + " | " + rs[1].Reason
			if !strings.Contains(got, want) || rs[i].Mode != runs.ModeRestore || rs[2].Mode == runs.ModeRestore {
				t.Errorf("latest runs: %q (%s, %s, %s); want the two restores, by the operator, and nothing more", got, rs[0].Mode, rs[1].Mode, rs[2].Mode)
			}
		}
		if now, _ := st.ListTrash(ctx, w.tenant); len(now) != len(trash)-1 {
			t.Fatalf("trash: %d after restoring one of %d", len(now), len(trash))
		}
		if now, _ := st.ListArchived(ctx, w.tenant); len(now) != len(archived)-1 {
			t.Fatalf("archive: %d after restoring one of %d", len(now), len(archived))
		}

		ola := w.client()
		ola.signIn("ola@example.org", password)
		_, page := ola.get("/tenants/" + w.other)
		for _, kind := range []string{"trash", "archive", "live"} {
			if code, _ := ola.get("/tenants/" + w.tenant + "/" + kind); code != http.StatusNotFound {
				t.Fatalf("another tenant's operator: GET %s: %d, want 404", kind, code)
			}
		}
		if code, _ := ola.post("/tenants/"+w.tenant+"/trash/restore", url.Values{"csrf": {csrfOf(t, page)}, "key": {trash[1].Key}}); code != http.StatusNotFound {
			t.Fatalf("another tenant's operator restores: %d, want 404", code)
		}
	})
}

// obj is the object type of a trash-can or archive entry.
func obj(kind string) string {
	if kind == "trash" {
		return "persons"
	}
	return "groups"
}

// Issue 12: the live channel's request log in the console, as `imsfeed es log` shows it.
func TestConsoleShowsTheLiveRequestLog(t *testing.T) {
	stores(t, func(t *testing.T, st store.Store) {
		w := newWorld(t, st)
		lv := st.(store.Live)
		now := time.Now()
		for i, e := range []store.LiveEntry{
			{Operation: "replacePerson", MessageID: "msg-1", Keys: []string{"P1"}, CodeMajor: "success", CodeMinor: "fullsuccess", Duration: 3 * time.Millisecond},
			{Operation: "deletePerson", MessageID: "msg-2", Keys: []string{"P2"}, CodeMajor: "failure", CodeMinor: "unknownobject", Description: "no person P2"},
		} {
			e.At, e.Tenant, e.Dialect = now.Add(time.Duration(i)*time.Second), w.tenant, "imses"
			if err := lv.LiveApply(context.Background(), store.LiveApplyParams{Entry: &e, Now: e.At}); err != nil {
				t.Fatal(err)
			}
		}
		b := w.client()
		b.signIn("kari@example.org", password)
		// The tenants page counts today's requests of a tenant with a live channel.
		w.cfg.Tenants[0].ES = &config.ES{Username: "sis"}
		if _, page := b.get("/"); !strings.Contains(page, fmt.Sprintf(`<a href="/tenants/%s/live" class="live-today">2 requests</a><br><small class="failed">1 not success</small>`, w.tenant)) {
			t.Fatalf("the tenants page does not show today's live requests:\n%s", page)
		}
		code, page := b.get("/tenants/" + w.tenant + "/live")
		log := section(page, "live")
		for _, want := range []string{"replacePerson", "msg-1", "P1", "deletePerson", "failure/unknownobject", "no person P2", "3.0 ms"} {
			if !strings.Contains(log, want) {
				t.Fatalf("live log (%d) lacks %q:\n%s", code, want, page)
			}
		}
		if _, page := b.get("/tenants/" + w.other + "/live"); !strings.Contains(page, "No live requests in the last 24 hours.") {
			t.Fatalf("another tenant's log is not empty:\n%s", page)
		}
	})
}

// QA, stop 36: past 1,000 live requests in a day the tenants page counted the failures among
// the oldest 1,001 only ("1000+ requests, 4 not success" for 2,540 and 14) and the live page
// showed the oldest 1,000 of the 24 hours. Now the page counts every request of the day in the
// store, and the live page shows the newest 1,000.
func TestConsoleCountsEveryLiveRequestOfTheDay(t *testing.T) {
	stores(t, func(t *testing.T, st store.Store) {
		w := newWorld(t, st)
		w.cfg.Tenants[0].ES = &config.ES{Username: "sis"}
		lv := st.(store.Live)
		now := time.Now()
		const n = 1010
		for i := 1; i <= n; i++ {
			e := store.LiveEntry{At: now, Tenant: w.tenant, Dialect: "imses", Operation: "readPerson", MessageID: fmt.Sprintf("msg-%04d", i),
				CodeMajor: "success", CodeMinor: "fullsuccess"}
			if i == 5 || i > n-7 { // one early, seven among the newest
				e.CodeMajor, e.CodeMinor = "failure", "unknownobject"
			}
			if err := lv.LiveApply(context.Background(), store.LiveApplyParams{Entry: &e, Now: now}); err != nil {
				t.Fatal(err)
			}
		}
		b := w.client()
		b.signIn("kari@example.org", password)
		want := fmt.Sprintf(`<a href="/tenants/%s/live" class="live-today">1,010 requests</a><br><small class="failed">8 not success</small>`, w.tenant)
		if _, page := b.get("/"); !strings.Contains(page, want) {
			t.Fatalf("the tenants page does not show %s:\n%s", want, page)
		}
		_, page := b.get("/tenants/" + w.tenant + "/live")
		log := section(page, "live")
		if !strings.Contains(log, "msg-1010") || !strings.Contains(log, "msg-0011") || strings.Contains(log, "msg-0010") {
			t.Fatalf("the live page does not show the newest 1,000 requests (msg-0011 to msg-1010):\n%s", log)
		}
		if strings.Index(log, "msg-0011") > strings.Index(log, "msg-1010") {
			t.Errorf("the live page no longer lists oldest first")
		}
		if note := "Only the newest 1,000 are shown: the older ones are in <code>imsfeed es log --tenant " + w.tenant + " --since 24h</code>."; !strings.Contains(page, note) {
			t.Errorf("the live page does not say where the older requests are (%s):\n%s", note, page)
		}
	})
}

// Issue 12: a trash can of thousands is paged and searched in the store: a page shows 100, the
// search finds one person by name or key, and restoring the ticked row of a search (with the
// CSRF token) restores that one and comes back to the search.
func TestConsoleTrashOfThousandsIsPagedAndSearched(t *testing.T) {
	stores(t, func(t *testing.T, st store.Store) {
		w := newWorld(t, st)
		ctx := context.Background()
		const n = 3000
		ins := &change.Plan{Tenant: w.other}
		del := &change.Plan{Tenant: w.other, BaseVersion: 1}
		for i := 1; i <= n; i++ {
			key, name := fmt.Sprintf("p%04d", i), fmt.Sprintf("Pupil %04d", i)
			if i == 1234 {
				key, name = "nor-1234", "Øystein Hansen"
			}
			p := record.Person{Key: key, Source: "SIS", Name: name}
			p.ComputeHash()
			ins.Persons = append(ins.Persons, change.Person{Op: change.Insert, Person: p})
			del.Persons = append(del.Persons, change.Person{Op: change.Delete, Person: record.Person{Key: key, Name: name}})
		}
		for _, p := range []*change.Plan{ins, del} {
			if err := st.Apply(ctx, store.ApplyParams{Plan: p, Now: time.Now(), NoUndo: true}); err != nil {
				t.Fatal(err)
			}
		}
		b := w.client()
		b.signIn("kari@example.org", password)
		path := "/tenants/" + w.other + "/trash"
		rows := func(page string) int { return strings.Count(section(page, "items"), `name="key"`) }

		code, page := b.get(path)
		if code != 200 || rows(page) != 100 || !strings.Contains(page, "3,000 person(s) in the trash can; page 1 of 30.") ||
			!strings.Contains(page, `value="p0001"`) || !strings.Contains(page, `href="`+path+`?page=2" rel="next"`) {
			t.Fatalf("first page (%d, %d rows):\n%s", code, rows(page), page)
		}
		if _, page := b.get(path + "?page=999"); rows(page) != 100 || !strings.Contains(page, "page 30 of 30.") || !strings.Contains(page, `value="p3000"`) {
			t.Fatalf("past the last page (%d rows):\n%s", rows(page), page)
		}
		for _, q := range []string{"hansen", "NOR-1234"} {
			_, page := b.get(path + "?q=" + url.QueryEscape(q))
			if rows(page) != 1 || !strings.Contains(page, "1 person(s) match; page 1 of 1.") || !strings.Contains(section(page, "items"), "Øystein Hansen") {
				t.Fatalf("search %q (%d rows):\n%s", q, rows(page), page)
			}
		}
		_, page = b.get(path + "?q=hansen")
		code, loc := b.post(path+"/restore", url.Values{"csrf": {csrfOf(t, page)}, "q": {"hansen"}, "page": {"1"}, "key": {"nor-1234"}})
		if code != http.StatusSeeOther || loc != path+"?q=hansen&restored=1" {
			t.Fatalf("restore from the search: %d %s", code, loc)
		}
		if _, page := b.get(loc); rows(page) != 0 || !strings.Contains(page, "Nothing matches.") || !strings.Contains(page, `id="restored">Restored 1 `) {
			t.Fatalf("after the restore:\n%s", page)
		}
		if _, left, _ := st.SearchTrash(ctx, w.other, store.ItemQuery{}); left != n-1 {
			t.Fatalf("%d in the trash can after restoring one of %d", left, n)
		}
	})
}
