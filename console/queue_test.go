package console_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"

	"github.com/imsfeed/imsfeed/queue"
	"github.com/imsfeed/imsfeed/store"
)

// Issue 13: the console shows the queue as `imsfeed queue` does (queue.Inspect): the next
// slots, and a slot's failed job with its tenant; only tenants the operator sees.
func TestConsoleShowsTheQueue(t *testing.T) {
	storesURL(t, func(t *testing.T, st store.Store, storeURL string) {
		w := newWorld(t, st)
		w.cfg.Store = storeURL
		w.cfg.Tenants[0].Timezone = "Asia/Tokyo" // the queue is every tenant's: its times are UTC
		w.cfg.Tenants[0].Schedule, w.cfg.Tenants[0].Source.URL = "30 2 * * *", "file:///srv/sis/"+w.tenant
		w.cfg.Tenants[1].Schedule, w.cfg.Tenants[1].Source.URL = "45 3 * * *", "file:///srv/sis/"+w.other

		ctx := context.Background()
		if _, err := queue.Inspect(ctx, w.cfg, time.Now()); err != nil { // creates river's tables
			t.Fatal(err)
		}
		slot := time.Date(2026, 11, 30, 2, 30, 0, 0, time.UTC)
		cancelJob(t, storeURL, queue.SlotArgs{Tenant: w.tenant, Slot: slot})

		b := w.client()
		b.signIn("kari@example.org", password)
		code, page := b.get("/queue")
		if code != http.StatusOK {
			t.Fatalf("GET /queue: %d\n%s", code, page)
		}
		next := section(page, "next")
		failed := section(page, "failed")
		if !strings.Contains(next, w.tenant) || !strings.Contains(next, w.other) || !strings.Contains(failed, w.tenant) || !strings.Contains(failed, "cancelled") {
			t.Fatalf("the queue page lacks the next slots or the cancelled job:\n%s", page)
		}
		if !strings.Contains(failed, `<span class="nw">2026-11-30</span> 02:30 UTC</time>`) {
			t.Fatalf("the cancelled job's slot is not shown in UTC:\n%s", page)
		}
		if !strings.Contains(page, "Nothing runs now.") || !strings.Contains(page, "No slot waits for another try.") {
			t.Fatalf("empty sections not said:\n%s", page)
		}

		ola := w.client()
		ola.signIn("ola@example.org", password)
		_, page = ola.get("/queue")
		if strings.Contains(page, w.tenant+"<") || strings.Contains(page, w.tenant+`"`) || !strings.Contains(section(page, "next"), w.other) {
			t.Fatalf("an operator of the other tenant sees this one's queue:\n%s", page)
		}
	})
}

// section is the page's table with the id, or "".
func section(page, id string) string {
	_, rest, ok := strings.Cut(page, fmt.Sprintf(`<table id="%s"`, id))
	if !ok {
		return ""
	}
	_, rest, _ = strings.Cut(rest, ">")
	s, _, _ := strings.Cut(rest, "</table>")
	return s
}

// cancelJob inserts a slot's job into the store's queue and cancels it, as an operator's
// river tooling would: it then shows among the failed.
func cancelJob(t *testing.T, storeURL string, args queue.SlotArgs) {
	t.Helper()
	ctx := context.Background()
	var client *river.Client[*sql.Tx]
	var db *sql.DB
	var err error
	if path, ok := strings.CutPrefix(storeURL, "sqlite://"); ok {
		db, err = sql.Open("sqlite", queue.QueueFile(path)+"?_pragma=busy_timeout(30000)")
		if err == nil {
			client, err = river.NewClient[*sql.Tx](riversqlite.New(db), &river.Config{})
		}
	} else {
		db, err = sql.Open("postgres", storeURL)
		if err == nil {
			client, err = river.NewClient[*sql.Tx](riverdatabasesql.New(db), &river.Config{})
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := client.Insert(ctx, args, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.JobCancel(ctx, res.Job.ID); err != nil {
		t.Fatal(err)
	}
}
