package importer_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/importer"
	"github.com/imsfeed/imsfeed/mailer"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/samples/feedgen"
	"github.com/imsfeed/imsfeed/store"
)

// The nightly job on a local folder: a new file imports, the same file is skipped, a pause
// window skips with its reason, and no new file for longer than stale_after is reported.
func TestRunSkipsPausesAndReportsAStaleSource(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open, nil)
		folder := filepath.Join(e.dir, "sis")
		os.MkdirAll(folder, 0o755)
		e.tenant.Source.URL = "file://" + folder
		e.tenant.Source.SettleTime = -1
		e.tenant.StaleAfter = 36 * time.Hour
		now := time.Date(2026, 11, 10, 2, 0, 0, 0, time.Local)
		e.im = importer.New(importer.Params{Config: e.cfg, Store: e.st, Mailer: mailer.New(nil, e.cfg.Outbox, nil), Now: func() time.Time { return now }})
		run := func() *runs.Run {
			t.Helper()
			r, err := e.im.Run(ctx, e.tenant)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}

		if r := run(); r.Status != runs.Skipped || !strings.Contains(r.Reason, "no matching file") {
			t.Fatalf("empty folder: %s %q", r.Status, r.Reason)
		}
		data, _ := os.ReadFile(e.file("x.xml", feedgen.Options{}))
		os.WriteFile(filepath.Join(folder, "export.xml"), data, 0o644)
		first := run()
		wantStatus(t, first, runs.Completed)

		now = now.Add(24 * time.Hour)
		if r := run(); r.Status != runs.Skipped || !strings.Contains(r.Reason, "unchanged file") || len(r.Attention) != 0 {
			t.Fatalf("same file a day later: %s %q %v", r.Status, r.Reason, r.Attention)
		}
		now = now.Add(24 * time.Hour) // 48h since the last import
		r := run()
		if r.Status != runs.Skipped || len(r.Attention) != 1 || r.Attention[0].Kind != change.NoticeStaleSource {
			t.Fatalf("stale source not reported: %s %+v", r.Status, r.Attention)
		}

		e.tenant.Pauses = []config.Pause{{From: config.Date{Time: now.Add(-48 * time.Hour)}, To: config.Date{Time: now.Add(48 * time.Hour)}, Reason: "school-year rollover"}}
		if r := run(); r.Status != runs.Skipped || !strings.Contains(r.Reason, "school-year rollover") {
			t.Fatalf("pause: %s %q", r.Status, r.Reason)
		}
		mails, _ := filepath.Glob(filepath.Join(e.cfg.Outbox, "*.eml"))
		if len(mails) != 5 {
			t.Errorf("%d mails, want one per attempt (5)", len(mails))
		}
	})
}

// A fetched file older than the one last imported (the SIS folder offers an old export again,
// or another process imported a newer one while this one waited for the lock) is not imported
// over the newer state: a recorded, mailed skip that says why.
func TestRunSkipsAFileOlderThanTheLastImported(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open, nil)
		folder := filepath.Join(e.dir, "sis")
		os.MkdirAll(folder, 0o755)
		e.tenant.Source.URL = "file://" + folder
		e.tenant.Source.SettleTime = -1
		e.im = importer.New(importer.Params{Config: e.cfg, Store: e.st, Mailer: mailer.New(nil, e.cfg.Outbox, nil)})
		newer, _ := os.ReadFile(e.file("new.xml", feedgen.Options{Night: 2}))
		older, _ := os.ReadFile(e.file("old.xml", feedgen.Options{Night: 1}))
		p := filepath.Join(folder, "export.xml")
		os.WriteFile(p, newer, 0o644)
		os.Chtimes(p, time.Now(), time.Now().Add(-time.Hour))
		r, err := e.im.Run(ctx, e.tenant)
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, r, runs.Completed)
		version := e.status().StateVersion

		os.WriteFile(p, older, 0o644)
		os.Chtimes(p, time.Now(), time.Now().Add(-2*time.Hour))
		r, err = e.im.Run(ctx, e.tenant)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != runs.Skipped || !strings.Contains(r.Reason, "older file") {
			t.Fatalf("older file: %s %q, want a skip saying it is older", r.Status, r.Reason)
		}
		if v := e.status().StateVersion; v != version {
			t.Errorf("state version %d after the older file, want %d (unchanged)", v, version)
		}
	})
}

// The run record says how long the fetch waited for the file to settle: nothing for a file
// finished long ago, the settle time for one written a moment ago (also when it was skipped),
// and no figure at all for `import`, which fetches nothing. It survives the store.
func TestRunRecordsHowLongTheFetchWaited(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open, nil)
		folder := filepath.Join(e.dir, "sis")
		os.MkdirAll(folder, 0o755)
		e.tenant.Source.URL = folder // the default settle time, 10s
		data, _ := os.ReadFile(e.file("x.xml", feedgen.Options{}))
		p := filepath.Join(folder, "export.xml")
		os.WriteFile(p, data, 0o644)
		old := time.Now().Add(-time.Hour)
		os.Chtimes(p, old, old)
		wait := func(r *runs.Run) (time.Duration, bool) {
			t.Helper()
			stored, err := e.st.Run(ctx, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			d, ok := stored.FetchWait()
			if d2, ok2 := r.FetchWait(); d2 != d || ok2 != ok {
				t.Errorf("run %d: stored fetch wait %s %v, returned %s %v", r.ID, d, ok, d2, ok2)
			}
			return d, ok
		}

		r, err := e.im.Run(ctx, e.tenant)
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, r, runs.Completed)
		if d, ok := wait(r); !ok || d != 0 {
			t.Errorf("a file an hour old: fetch waited %s (recorded %v), want 0", d, ok)
		}

		e.tenant.Source.SettleTime = 300 * time.Millisecond
		os.Chtimes(p, time.Now(), time.Now()) // the same bytes, touched just now
		r, err = e.im.Run(ctx, e.tenant)
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, r, runs.Skipped)
		if d, ok := wait(r); !ok || d != 300*time.Millisecond {
			t.Errorf("a file touched just now: fetch waited %s (recorded %v), want the settle time 300ms", d, ok)
		}

		if r := e.imp(p); r.FetchWaitSeconds != nil {
			t.Errorf("import (no fetch) records a fetch wait of %v s", *r.FetchWaitSeconds)
		}
	})
}
