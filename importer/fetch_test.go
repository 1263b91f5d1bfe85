package importer_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
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
	"github.com/imsfeed/imsfeed/store/sqlite"
)

// sourceFolder gives the tenant a local source folder whose files are taken at once (no
// settle wait) and returns its path.
func (e *env) sourceFolder() string {
	e.t.Helper()
	folder := filepath.Join(e.dir, "sis")
	if err := os.MkdirAll(folder, 0o755); err != nil {
		e.t.Fatal(err)
	}
	e.tenant.Source.URL = "file://" + folder
	e.tenant.Source.SettleTime = -1
	return folder
}

// The nightly job on a local folder: a new file imports, the same file is skipped, a pause
// window skips with its reason, and no new file for longer than stale_after is reported.
func TestRunSkipsPausesAndReportsAStaleSource(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open, nil)
		folder := e.sourceFolder()
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
		folder := e.sourceFolder()
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
		folder := e.sourceFolder()
		e.tenant.Source.URL, e.tenant.Source.SettleTime = folder, 0 // a plain path; the default settle time, 10s
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

// A file an operator rejected, or one that failed for its content, stays in the source folder
// (after: leave): the nightly run skips it, naming that run, until a new file arrives. A run
// that failed for another reason (the lock) does not block its file.
func TestRejectedOrBrokenFileIsNotImportedAgain(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open, nil)
		folder := e.sourceFolder()
		put := func(name string, data []byte) {
			t.Helper()
			os.RemoveAll(folder)
			os.MkdirAll(folder, 0o755)
			if err := os.WriteFile(filepath.Join(folder, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		feed := func(name string, o feedgen.Options) []byte {
			data, _ := os.ReadFile(e.file(name, o))
			return data
		}
		run := func() *runs.Run {
			t.Helper()
			r, err := e.im.Run(ctx, e.tenant)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		wantSkip := func(why string) {
			t.Helper()
			before := e.status()
			r := run()
			if r.Status != runs.Skipped || !strings.Contains(r.Reason, why) {
				t.Fatalf("want a skip saying %q, got %s %q (error %+v)", why, r.Status, r.Reason, r.Error)
			}
			if e.status() != before {
				t.Fatal("a skip changed the state")
			}
		}

		put("n1.xml", feed("n1.xml", feedgen.Options{}))
		wantStatus(t, run(), runs.Completed)

		// A broken export, held and rejected: the next nights skip it.
		put("n2.xml", feed("n2.xml", feedgen.Options{DropPercent: 30}))
		held := run()
		wantStatus(t, held, runs.Held)
		if _, err := e.im.Reject(ctx, importer.Decision{RunID: held.ID, By: "ops", Reason: "broken export"}); err != nil {
			t.Fatal(err)
		}
		wantSkip(fmt.Sprintf("same file as rejected run %d", held.ID))
		wantSkip(fmt.Sprintf("same file as rejected run %d", held.ID))

		// A new file imports; a truncated one fails once, then is skipped.
		put("n3.xml", feed("n3.xml", feedgen.Options{RenamePercent: 1}))
		wantStatus(t, run(), runs.Completed)
		whole := feed("n4.xml", feedgen.Options{RenamePercent: 2})
		put("n4.xml", whole[:len(whole)/2])
		failed := run()
		wantStatus(t, failed, runs.Failed)
		if !failed.FileFault() {
			t.Fatalf("a truncated file's failure is not the file's: %+v", failed.Error)
		}
		wantSkip(fmt.Sprintf("same file as failed run %d", failed.ID))

		// A good file that could not get the lock fails, but is imported the next night.
		put("n4.xml", whole)
		release, err := e.st.LockTenant(ctx, e.tenant.ID, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		e.cfg.LockWait = 50 * time.Millisecond
		locked := run()
		release()
		wantStatus(t, locked, runs.Failed)
		if locked.FileFault() {
			t.Fatalf("a lock timeout was blamed on the file: %+v", locked.Error)
		}
		wantStatus(t, run(), runs.Completed)
	})
}

// A process that recorded a slot's run and died before mailing it (kill -9 between the two):
// the slot's next attempt finds the run under the lock, records nothing new, and sends that
// run's mail, so the slot still has its one run and its one mail.
func TestSlotRunRecordedButNotMailedIsMailedByTheNextAttempt(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open, nil)
		folder := e.sourceFolder()
		data, _ := os.ReadFile(e.file("x.xml", feedgen.Options{}))
		os.WriteFile(filepath.Join(folder, "export.xml"), data, 0o644)
		slot := time.Now().Add(-time.Minute).Truncate(time.Minute).UTC()
		sum := sha256.Sum256(data)
		done := time.Now().UTC()
		dead := &runs.Run{Tenant: e.tenant.ID, Status: runs.Skipped, Slot: slot, StartedAt: done, FinishedAt: &done,
			Reason: "unchanged file", File: runs.File{Name: "export.xml", Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}}
		if err := e.st.CreateRun(ctx, dead); err != nil {
			t.Fatal(err)
		}

		r, err := e.im.RunSlot(ctx, e.tenant, slot)
		if err != nil {
			t.Fatal(err)
		}
		if r.ID != dead.ID {
			t.Errorf("the slot's next attempt gave run %d, want the dead process's run %d", r.ID, dead.ID)
		}
		if list, _ := e.st.ListRuns(ctx, store.ListRunsParams{Tenant: e.tenant.ID}); len(list) != 1 {
			t.Errorf("%d runs, want the one run of the slot", len(list))
		}
		if mails, _ := filepath.Glob(filepath.Join(e.cfg.Outbox, "*.eml")); len(mails) != 1 {
			t.Errorf("%d mails, want the run's one mail", len(mails))
		}
		// Once mailed, a further attempt sends nothing more.
		e.im.RunSlot(ctx, e.tenant, slot)
		if mails, _ := filepath.Glob(filepath.Join(e.cfg.Outbox, "*.eml")); len(mails) != 1 {
			t.Errorf("%d mails after another attempt, want still 1", len(mails))
		}
	})
}

// A skipped run changes nothing, and its record and mail say what the tenant holds: the stored
// counts before as after (active persons and groups, synced memberships), not zeros that read
// as "the tenant is empty" after every unchanged night. Likewise a paused night.
func TestSkippedRunRecordsAndMailsTheStoredCounts(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open, nil)
		folder := e.sourceFolder()
		mail := &lastMail{inner: mailer.New(nil, e.cfg.Outbox, nil)}
		e.im = importer.New(importer.Params{Config: e.cfg, Store: e.st, Mailer: mail})
		run := func() *runs.Run {
			t.Helper()
			r, err := e.im.Run(ctx, e.tenant)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		export := filepath.Join(folder, "export.xml")
		for night := 1; night <= 2; night++ { // night 2's leavers go to the trash can
			data, _ := os.ReadFile(e.file(fmt.Sprintf("n%d.xml", night), feedgen.Options{Night: night}))
			os.WriteFile(export, data, 0o644)
			os.Chtimes(export, time.Now(), time.Now().Add(time.Duration(night-3)*time.Hour))
			wantStatus(t, run(), runs.Completed)
		}
		st := e.status()
		if st.Persons.Active == 0 || st.Persons.Trashed == 0 || st.Memberships.Synced == 0 {
			t.Fatalf("status %+v; the test needs active and trashed persons and memberships", st)
		}
		want := map[string]int{"persons": st.Persons.Active, "groups": st.Groups.Active, "memberships": st.Memberships.Synced}

		check := func(what string, r *runs.Run) {
			t.Helper()
			wantStatus(t, r, runs.Skipped)
			stored, err := e.st.Run(ctx, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			for name, n := range want {
				c := stored.Counts.Persons
				switch name {
				case "groups":
					c = stored.Counts.Groups
				case "memberships":
					c = stored.Counts.Memberships
				}
				if c != (change.TypeCounts{Before: n, After: n}) {
					t.Errorf("%s: stored %s counts %+v, want %d before and after, no changes", what, name, c, n)
				}
			}
			if stored.VersionBefore != st.StateVersion || stored.VersionAfter != st.StateVersion {
				t.Errorf("%s: versions %d → %d, want %d unchanged", what, stored.VersionBefore, stored.VersionAfter, st.StateVersion)
			}
			if mail.r == nil || !strings.Contains(mail.r.Text, "Current state:") {
				t.Fatalf("%s: no mail with the current state", what)
			}
			var missing []string
			for name, n := range want {
				if row := fmt.Sprintf("%s %d 0 0 0 0 0 %d", name, n, n); !slices.Contains(fieldLines(mail.r.Text), row) {
					missing = append(missing, row)
				}
			}
			if len(missing) > 0 {
				t.Errorf("%s: the mail has no rows %q:\n%s", what, missing, mail.r.Text)
			}
		}
		check("unchanged file", run())
		e.tenant.Paused = true
		check("paused", run())
		if s := e.status(); s != st {
			t.Errorf("status after the skips %+v, want %+v", s, st)
		}
	})
}

// fieldLines is text's lines with their runs of spaces made one.
func fieldLines(text string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		out = append(out, strings.Join(strings.Fields(l), " "))
	}
	return out
}

// failingStatus is a store whose tenant counts cannot be read.
type failingStatus struct{ store.Store }

func (failingStatus) Status(context.Context, string) (store.TenantStatus, error) {
	return store.TenantStatus{}, errors.New("counts unreadable")
}

// A skip whose counts the store would not give says so next to its table of zeros.
func TestSkippedRunSaysWhenTheCountsAreUnknown(t *testing.T) {
	e := newEnv(t, func(t *testing.T) store.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "state.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}, nil)
	e.imp(e.file("n1.xml", feedgen.Options{}))
	mail := &lastMail{inner: mailer.New(nil, e.cfg.Outbox, nil)}
	e.im = importer.New(importer.Params{Config: e.cfg, Store: failingStatus{e.st}, Mailer: mail})
	e.tenant.Paused = true
	r, err := e.im.Run(context.Background(), e.tenant)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, r, runs.Skipped)
	if mail.r == nil || !strings.Contains(strings.Join(fieldLines(mail.r.Text), " "), "stored counts could not be read (counts unreadable): the table's zeros are not the tenant's") {
		t.Errorf("the mail does not say its zeros are unknown counts:\n%v", mail.r)
	}
}
