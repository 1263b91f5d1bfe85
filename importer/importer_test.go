package importer_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/importer"
	"github.com/imsfeed/imsfeed/mailer"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/safety"
	"github.com/imsfeed/imsfeed/samples/feedgen"
	"github.com/imsfeed/imsfeed/store"
	"github.com/imsfeed/imsfeed/store/postgres"
	"github.com/imsfeed/imsfeed/store/sqlite"
	"github.com/imsfeed/imsfeed/store/storetest"
)

// stores runs a test on SQLite and, when a test server is given, on PostgreSQL. Under CI the
// PostgreSQL half must run.
func stores(t *testing.T, test func(t *testing.T, open func(t *testing.T) store.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		test(t, func(t *testing.T) store.Store {
			s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "state.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		})
	})
	t.Run("postgres", func(t *testing.T) {
		url := storetest.PostgresURL(t)
		test(t, func(t *testing.T) store.Store {
			s, err := postgres.Open(context.Background(), url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		})
	})
}

// env is one tenant's world: a store, an outbox, the importer, and files written by feedgen.
type env struct {
	t      *testing.T
	st     store.Store
	cfg    *config.Config
	tenant *config.Tenant
	im     *importer.Importer
	dir    string
}

func newEnv(t *testing.T, open func(t *testing.T) store.Store, tune func(*config.Tenant)) *env {
	dir := t.TempDir()
	// Tenant ids are unique so tests can share one PostgreSQL database.
	id := fmt.Sprintf("t%08x", rand.Uint32())
	tn := config.DefaultTenant(id)
	tn.Name = "Test school owner"
	if tune != nil {
		tune(&tn)
	}
	cfg := &config.Config{DataDir: dir, Spool: filepath.Join(dir, "spool"), Outbox: filepath.Join(dir, "outbox"), LockWait: 5e9, Tenants: []config.Tenant{tn}}
	st := open(t)
	e := &env{t: t, st: st, cfg: cfg, tenant: &cfg.Tenants[0], dir: dir}
	e.im = importer.New(importer.Params{Config: cfg, Store: st, Mailer: mailer.New(nil, cfg.Outbox, nil)})
	return e
}

// small is a school owner of 600 persons, 60 groups, 10 members per group.
func small(o feedgen.Options) feedgen.Options {
	o.Persons, o.Groups, o.MembersPerGroup, o.Seed = 600, 60, 10, 7
	return o
}

func (e *env) file(name string, o feedgen.Options) string {
	e.t.Helper()
	var buf bytes.Buffer
	if err := feedgen.Write(&buf, small(o)); err != nil {
		e.t.Fatal(err)
	}
	return e.write(name, buf.Bytes())
}

func (e *env) write(name string, data []byte) string {
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *env) imp(path string) *runs.Run {
	e.t.Helper()
	r, err := e.im.ImportFile(context.Background(), e.tenant, path, importer.ImportOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *env) status() store.TenantStatus {
	e.t.Helper()
	s, err := e.st.Status(context.Background(), e.tenant.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func wantStatus(t *testing.T, r *runs.Run, want runs.Status) {
	t.Helper()
	if r.Status != want {
		t.Fatalf("run %d: status %s, want %s (error %+v, verdict %+v, reason %q)", r.ID, r.Status, want, r.Error, r.Verdict, r.Reason)
	}
}

func TestImportScenarios(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open, nil)
		night1 := e.file("night1.xml", feedgen.Options{})

		r := e.imp(night1)
		wantStatus(t, r, runs.Completed)
		wantFileHash(t, r, night1)
		if r.Counts.Persons.Inserted != 600 || r.Counts.Persons.After != 600 || r.Counts.Memberships.Inserted == 0 {
			t.Fatalf("initial load counts: %+v", r.Counts)
		}
		s1 := e.status()
		if s1.Persons.Active != 600 || s1.StateVersion == 0 || r.VersionAfter != s1.StateVersion {
			t.Fatalf("after initial load: %+v, run versions %d→%d", s1, r.VersionBefore, r.VersionAfter)
		}

		// The same file again changes nothing and does not bump the state version.
		again := e.imp(night1)
		wantStatus(t, again, runs.Completed)
		c := again.Counts.Persons
		if c.Inserted+c.Updated+c.Deleted+c.Restored != 0 || e.status().StateVersion != s1.StateVersion {
			t.Fatalf("same file again changed something: %+v", again.Counts)
		}

		// 1% renamed → 6 updates.
		renamed := e.imp(e.file("renamed.xml", feedgen.Options{RenamePercent: 1}))
		wantStatus(t, renamed, runs.Completed)
		if renamed.Counts.Persons.Updated == 0 || renamed.Counts.Persons.Updated > 12 || renamed.Counts.Persons.Inserted != 0 {
			t.Fatalf("renames: %+v", renamed.Counts.Persons)
		}

		// 5% of persons gone (under the 10% limit) → trash; back → restored.
		drop := e.imp(e.file("drop5.xml", feedgen.Options{RenamePercent: 1, DropPercent: 5}))
		wantStatus(t, drop, runs.Completed)
		gone := drop.Counts.Persons.Deleted
		if gone == 0 || drop.Counts.Memberships.Deleted == 0 || e.status().Persons.Trashed != gone {
			t.Fatalf("drop: %+v, status %+v", drop.Counts, e.status())
		}
		trash, _ := e.st.ListTrash(context.Background(), e.tenant.ID)
		if len(trash) != gone || trash[0].Run != drop.ID {
			t.Fatalf("trash list: %d items, want %d from run %d: %+v", len(trash), gone, drop.ID, trash[:min(1, len(trash))])
		}
		back := e.imp(e.file("back.xml", feedgen.Options{RenamePercent: 1}))
		wantStatus(t, back, runs.Completed)
		if back.Counts.Persons.Restored != gone || e.status().Persons.Trashed != 0 {
			t.Fatalf("restore: %+v", back.Counts.Persons)
		}

		// A mail for every attempt.
		mails, _ := filepath.Glob(filepath.Join(e.cfg.Outbox, "*.eml"))
		if len(mails) != 5 {
			t.Errorf("%d mails in the outbox, want one per run (5)", len(mails))
		}
	})
}

func TestBadInputChangesNothing(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open, nil)
		good := e.file("good.xml", feedgen.Options{})
		wantStatus(t, e.imp(good), runs.Completed)
		before := e.status()
		data, _ := os.ReadFile(good)

		dupAt := bytes.Index(data, []byte("<person>"))
		end := bytes.Index(data[dupAt:], []byte("</person>")) + dupAt + len("</person>")
		dup := append(append(append([]byte{}, data[:end]...), data[dupAt:end]...), data[end:]...)

		for name, bad := range map[string][]byte{
			"truncated.xml": data[:len(data)/2],
			"malformed.xml": bytes.Replace(data, []byte("</person>"), []byte("</persn>"), 1),
			"duplicate.xml": dup,
			"empty.xml":     {},
		} {
			r := e.imp(e.write(name, bad))
			wantStatus(t, r, runs.Failed)
			wantFileHash(t, r, filepath.Join(e.dir, name))
			if r.Error == nil || r.Error.Message == "" {
				t.Errorf("%s: failed without a reason", name)
			}
			if name != "empty.xml" && r.Error.Line == 0 {
				t.Errorf("%s: error has no line: %+v", name, r.Error)
			}
			if after := e.status(); after != before {
				t.Errorf("%s changed the state: %+v → %+v", name, before, after)
			}
		}
	})
}

func TestSafetyHoldApproveReject(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open, nil)
		wantStatus(t, e.imp(e.file("n1.xml", feedgen.Options{})), runs.Completed)
		before := e.status()

		// A broken export: 30% of persons gone.
		held := e.imp(e.file("broken.xml", feedgen.Options{DropPercent: 30}))
		wantStatus(t, held, runs.Held)
		if held.Verdict.Passed || len(held.Verdict.Tripped) == 0 || held.Counts.Persons.Deleted < 150 {
			t.Fatalf("verdict %+v counts %+v", held.Verdict, held.Counts.Persons)
		}
		if e.status() != before {
			t.Fatal("a held run changed the state")
		}

		// The plan that is approved is byte for byte the plan that was shown.
		shown, err := e.im.PlanBytes(ctx, held.ID)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(shown)
		if hex.EncodeToString(sum[:]) != held.PlanSHA256 {
			t.Fatal("shown plan is not the plan the run recorded")
		}
		approved, err := e.im.Approve(ctx, importer.Decision{RunID: held.ID, By: "ops", Reason: "pupils moved to another school owner"})
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, approved, runs.Completed)
		if approved.Approval == nil || approved.Approval.By != "ops" || approved.PlanSHA256 != held.PlanSHA256 {
			t.Fatalf("approval not recorded: %+v", approved)
		}
		after := e.status()
		if after.Persons.Trashed != held.Counts.Persons.Deleted || after.Persons.Active != 600-held.Counts.Persons.Deleted {
			t.Fatalf("approval applied something else than the plan: plan %+v, state %+v", held.Counts.Persons, after)
		}
		reread, _ := e.st.Run(ctx, held.ID)
		if reread.Status != runs.Completed || reread.Approval == nil {
			t.Fatalf("runs/show do not show the approval: %+v", reread)
		}

		// Approving twice is refused.
		if _, err := e.im.Approve(ctx, importer.Decision{RunID: held.ID, By: "ops", Reason: "again"}); !errors.Is(err, importer.ErrNotHeld) || !strings.Contains(err.Error(), "already approved") {
			t.Fatalf("second approval: %v", err)
		}

		// A stale approval: the state changed after the plan was made.
		stale := e.imp(e.file("whole.xml", feedgen.Options{})) // everyone back: a mass restore
		wantStatus(t, stale, runs.Held)                        // held like any mass insert
		if _, err := e.st.RestoreTrash(ctx, e.tenant.ID, []string{firstTrashed(t, e)}, nil); err != nil {
			t.Fatal(err)
		}
		v := e.status()
		if _, err := e.im.Approve(ctx, importer.Decision{RunID: stale.ID, By: "ops", Reason: "ok"}); err == nil || !strings.Contains(err.Error(), "state changed") {
			t.Fatalf("stale approval: %v", err)
		}
		if e.status() != v {
			t.Fatal("a refused approval changed the state")
		}

		// A newer run supersedes the older hold, which can no longer be approved.
		newer := e.imp(e.file("whole2.xml", feedgen.Options{}))
		wantStatus(t, newer, runs.Held)
		if _, err := e.im.Approve(ctx, importer.Decision{RunID: stale.ID, By: "ops", Reason: "ok"}); err == nil || !strings.Contains(err.Error(), "superseded") {
			t.Fatalf("superseded approval: %v", err)
		}

		// Reject closes it.
		rej, err := e.im.Reject(ctx, importer.Decision{RunID: newer.ID, By: "ops", Reason: "wait for the SIS vendor"})
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, rej, runs.Rejected)
		if e.status() != v {
			t.Fatal("reject changed the state")
		}
		if _, err := e.im.Approve(ctx, importer.Decision{RunID: newer.ID, By: "ops", Reason: "changed my mind"}); err == nil || !strings.Contains(err.Error(), "rejected") {
			t.Fatalf("approve after reject: %v", err)
		}
	})
}

func firstTrashed(t *testing.T, e *env) string {
	items, err := e.st.ListTrash(context.Background(), e.tenant.ID)
	if err != nil || len(items) == 0 {
		t.Fatalf("trash: %v %d", err, len(items))
	}
	return items[0].Key
}

func TestHoldRemovalsAppliesInsertsAndUpdates(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open, func(tn *config.Tenant) { tn.Safety.OnTrip = safety.HoldRemovals })
		wantStatus(t, e.imp(e.file("n1.xml", feedgen.Options{})), runs.Completed)
		// Night 3: churn brings new pupils; 30% dropped; 1% renamed.
		r := e.imp(e.file("n3.xml", feedgen.Options{Night: 3, DropPercent: 30, RenamePercent: 1}))
		wantStatus(t, r, runs.Held)
		st := e.status()
		if st.Persons.Trashed != 0 {
			t.Fatalf("hold-removals trashed persons before approval: %+v", st)
		}
		if st.Persons.Active != 600+r.Counts.Persons.Inserted {
			t.Fatalf("inserts were not applied: %+v, counts %+v", st, r.Counts.Persons)
		}
		if _, err := e.im.Approve(ctx, importer.Decision{RunID: r.ID, By: "ops", Reason: "term ended"}); err != nil {
			t.Fatal(err)
		}
		if got := e.status().Persons.Trashed; got != r.Counts.Persons.Deleted {
			t.Fatalf("after approval %d trashed, plan said %d", got, r.Counts.Persons.Deleted)
		}
	})
}

func TestInitialLoadPassesUnlessHoldInitialLoad(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open, func(tn *config.Tenant) { tn.Safety.HoldInitialLoad = true })
		r := e.imp(e.file("n1.xml", feedgen.Options{}))
		wantStatus(t, r, runs.Held)
		if e.status().Persons.Active != 0 {
			t.Fatal("held initial load applied")
		}
	})
}

func TestDryRunAppliesNothing(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open, nil)
		r, err := e.im.ImportFile(context.Background(), e.tenant, e.file("n1.xml", feedgen.Options{}), importer.ImportOptions{DryRun: true})
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, r, runs.Planned)
		if r.Counts.Persons.Inserted != 600 || e.status().Persons.Active != 0 {
			t.Fatalf("dry run: counts %+v, state %+v", r.Counts.Persons, e.status())
		}
	})
}

// A dry run is for the person who typed it: no run number, no run record, no mail to the
// subscribers; a dry run of a broken file neither.
func TestDryRunIsNotRecordedOrMailed(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open, nil)
		for name, data := range map[string][]byte{"broken.xml": []byte("<enterprise><person>")} {
			r, err := e.im.ImportFile(ctx, e.tenant, e.write(name, data), importer.ImportOptions{DryRun: true})
			if err != nil {
				t.Fatal(err)
			}
			wantStatus(t, r, runs.Failed)
		}
		r, err := e.im.ImportFile(ctx, e.tenant, e.file("n1.xml", feedgen.Options{}), importer.ImportOptions{DryRun: true})
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, r, runs.Planned)
		if r.ID != 0 || r.File.SHA256 == "" {
			t.Errorf("dry run: run id %d (want 0: not recorded), sha256 %q", r.ID, r.File.SHA256)
		}
		if list, err := e.st.ListRuns(ctx, store.ListRunsParams{Tenant: e.tenant.ID}); err != nil || len(list) != 0 {
			t.Fatalf("dry runs left %d run records (%v), want none", len(list), err)
		}
		if mails, _ := filepath.Glob(filepath.Join(e.cfg.Outbox, "*.eml")); len(mails) != 0 {
			t.Fatalf("dry runs mailed the subscribers: %v", mails)
		}
		// The next real import is the tenant's first run.
		wantStatus(t, e.imp(e.file("n1.xml", feedgen.Options{})), runs.Completed)
		if list, _ := e.st.ListRuns(ctx, store.ListRunsParams{Tenant: e.tenant.ID}); len(list) != 1 {
			t.Fatalf("%d runs after one import", len(list))
		}
	})
}

// A run whose process was killed stays "running" until the next run of the tenant, holding the
// lock, closes it as failed.
func TestInterruptedRunIsClosedByTheNextRun(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open, nil)
		stuck := &runs.Run{Tenant: e.tenant.ID, Status: runs.Running, StartedAt: time.Now().UTC()}
		if err := e.st.CreateRun(ctx, stuck); err != nil {
			t.Fatal(err)
		}
		wantStatus(t, e.imp(e.file("n1.xml", feedgen.Options{})), runs.Completed)
		r, err := e.st.Run(ctx, stuck.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != runs.Failed || r.Error == nil || !strings.Contains(r.Error.Message, "interrupted") {
			t.Fatalf("stuck run after the next import: %s %+v", r.Status, r.Error)
		}
	})
}

// A broken file the next night fails; it made no plan, so the held run stays approvable.
func TestFailedRunDoesNotSupersedeAHold(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open, nil)
		wantStatus(t, e.imp(e.file("n1.xml", feedgen.Options{})), runs.Completed)
		held := e.imp(e.file("drop.xml", feedgen.Options{DropPercent: 30}))
		wantStatus(t, held, runs.Held)
		wantStatus(t, e.imp(e.write("broken.xml", []byte("<enterprise><person>"))), runs.Failed)
		if _, err := e.im.Approve(context.Background(), importer.Decision{RunID: held.ID, By: "ops", Reason: "checked"}); err != nil {
			t.Fatalf("hold after a failed run: %v", err)
		}
	})
}

// wantFileHash checks the run records the SHA-256 of the whole file, however far the read got.
func wantFileHash(t *testing.T, r *runs.Run, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if r.File.SHA256 != hex.EncodeToString(sum[:]) || r.File.Size != int64(len(data)) {
		t.Errorf("run %d records %s (%d bytes), want the SHA-256 of %s (%d bytes)", r.ID, r.File.SHA256, r.File.Size, filepath.Base(path), len(data))
	}
}

// Ctrl-C in the middle of an import: the run fails as interrupted by the operator, nothing is
// applied, the mail blames neither the file nor says "context canceled", and the file is not
// held against: the next import of it completes.
func TestInterruptedImportSaysSoAndBlamesNotTheFile(t *testing.T) {
	defer importer.SetEarlyMinSize(0)() // cancelled beside the early copy too (its race)
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open, nil)
		path := e.file("n1.xml", feedgen.Options{})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		e.im.Progress = func(read, total int64) { cancel() } // Ctrl-C once reading has begun
		r, err := e.im.ImportFile(ctx, e.tenant, path, importer.ImportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, r, runs.Failed)
		if !r.Interrupted() || r.FileFault() || r.Error.Message != importer.Interrupted {
			t.Fatalf("interrupted run's error: %+v", r.Error)
		}
		if st := e.status(); st.Persons.Active != 0 || st.StateVersion != 0 {
			t.Fatalf("an interrupted import applied something: %+v", st)
		}
		mails, _ := filepath.Glob(filepath.Join(e.cfg.Outbox, fmt.Sprintf("*-run%d.eml", r.ID)))
		if len(mails) != 1 {
			t.Fatalf("%d mails for the interrupted run", len(mails))
		}
		body, _ := os.ReadFile(mails[0])
		for _, bad := range []string{"context canceled", "validate"} {
			if strings.Contains(string(body), bad) {
				t.Errorf("the mail of an interrupted run says %q:\n%s", bad, body)
			}
		}
		if !strings.Contains(string(body), "interrupted by the operator") {
			t.Errorf("the mail does not say the operator interrupted the run:\n%s", body)
		}
		e.im.Progress = nil
		wantStatus(t, e.imp(path), runs.Completed)
	})
}

// An approved run's duration is the import's own time; the hours it waited for the operator
// are kept apart (held_at, approval_wait_seconds), in the record and the mail.
func TestApprovalWaitIsNotTheImportsDuration(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open, nil)
		clock := time.Date(2026, 11, 10, 2, 0, 0, 0, time.UTC)
		e.im = importer.New(importer.Params{Config: e.cfg, Store: e.st, Mailer: mailer.New(nil, e.cfg.Outbox, nil),
			Now: func() time.Time { clock = clock.Add(100 * time.Millisecond); return clock }})
		wantStatus(t, e.imp(e.file("n1.xml", feedgen.Options{})), runs.Completed)
		held := e.imp(e.file("drop.xml", feedgen.Options{DropPercent: 30}))
		wantStatus(t, held, runs.Held)

		clock = clock.Add(7 * time.Hour) // the operator decides after breakfast
		r, err := e.im.Approve(ctx, importer.Decision{RunID: held.ID, By: "ops", Reason: "checked"})
		if err != nil {
			t.Fatal(err)
		}
		stored, err := e.st.Run(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range []*runs.Run{r, stored} {
			if d := x.Duration(); d <= 0 || d > time.Minute {
				t.Errorf("approved run's duration %s includes the wait for approval", d)
			}
			if x.HeldAt == nil || x.ApprovalWait() < 7*time.Hour || x.ApprovalWait() > 7*time.Hour+time.Minute {
				t.Errorf("approval wait %s (held at %v), want 7h", x.ApprovalWait(), x.HeldAt)
			}
			if x.DurationSeconds == nil || *x.DurationSeconds > 60 || x.ApprovalWaitSeconds == nil || *x.ApprovalWaitSeconds < 7*3600 {
				t.Errorf("--json durations: duration_seconds %v, approval_wait_seconds %v", x.DurationSeconds, x.ApprovalWaitSeconds)
			}
		}
		mails, _ := filepath.Glob(filepath.Join(e.cfg.Outbox, fmt.Sprintf("*-run%d*.eml", r.ID)))
		var body []byte
		for _, m := range mails {
			if b, _ := os.ReadFile(m); bytes.Contains(b, []byte("X-Imsfeed-Status: approved")) {
				body = b
			}
		}
		if body == nil {
			t.Fatalf("no approval mail among %v", mails)
		}
		if !strings.Contains(string(body), "Waited     7h0m0") || strings.Contains(string(body), "Duration   7h") {
			t.Errorf("the approval mail does not keep the wait apart from the duration:\n%s", body)
		}
	})
}

// Ctrl-C while the apply copies rows into PostgreSQL: the import rolls its transaction back
// itself, once the copy has ended, not database/sql from a goroutine of its own while lib/pq's
// COPY still reads the connection (a data race); nothing is applied, the run says it was
// interrupted, and the next run imports the file. So too when the rows are copied while the
// file is read (an initial load of a file over the early copy's size limit) and Ctrl-C comes
// in the middle of the reading.
func TestImportInterruptedDuringItsApplyChangesNothing(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		for _, early := range []bool{false, true} {
			e := newEnv(t, open, nil)
			var buf bytes.Buffer
			if err := feedgen.Write(&buf, feedgen.Options{Persons: 5000, Groups: 20, MembersPerGroup: 10, Seed: 7}); err != nil {
				t.Fatal(err)
			}
			path := e.write("big.xml", buf.Bytes())
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			cancelled := false
			if early {
				restore := importer.SetEarlyMinSize(0)
				e.im.Progress = func(read, total int64) {
					if read >= total/2 && !cancelled {
						cancelled = true
						cancel() // Ctrl-C in the middle of the persons, copied as they are read
					}
				}
				defer restore()
			} else {
				e.im.Applying = func(done, total int) {
					if done >= 2048 && !cancelled {
						cancelled = true
						cancel() // Ctrl-C in the middle of the persons' rows
					}
				}
			}
			r, err := e.im.ImportFile(ctx, e.tenant, path, importer.ImportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !cancelled {
				t.Fatal("the import was never interrupted")
			}
			wantStatus(t, r, runs.Failed)
			if !r.Interrupted() || r.FileFault() || r.Error.Message != importer.Interrupted {
				t.Fatalf("interrupted run's error: %+v", r.Error)
			}
			if st := e.status(); st.Persons.Active != 0 || st.Memberships.Synced != 0 || st.StateVersion != 0 {
				t.Fatalf("an import interrupted in its apply applied something: %+v", st)
			}
			e.im.Applying, e.im.Progress = nil, nil
			wantStatus(t, e.imp(path), runs.Completed)
			if st := e.status(); st.Persons.Active != 5000 {
				t.Fatalf("after the next run: %d persons, want 5000", st.Persons.Active)
			}
		}
	})
}
