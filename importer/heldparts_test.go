package importer_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
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
	"github.com/imsfeed/imsfeed/store/postgres"
	"github.com/imsfeed/imsfeed/store/sqlite"
	"github.com/imsfeed/imsfeed/store/storetest"
)

// heldWorld is a store of its own (a new SQLite file, or a new PostgreSQL schema: run ids
// start at 1 in each) with a tenant whose second night was held, made on a clock that does
// not move: two worlds given the same files are the same, row for row.
type heldWorld struct {
	st     store.Store
	db     *sql.DB // the same database, for what the store's interface does not do
	dollar bool
	im     *importer.Importer
	tenant *config.Tenant
	held   *runs.Run
	outbox string
}

var heldClock = time.Date(2026, 8, 14, 2, 0, 0, 0, time.UTC)

func newHeldWorld(t *testing.T, kind string, nights ...string) *heldWorld {
	t.Helper()
	return newHeldWorldWith(t, kind, nil, importer.ImportOptions{}, nights...)
}

// newHeldWorldWith is newHeldWorld with the tenant as tenant makes it (when not nil), the last
// night imported with o.
func newHeldWorldWith(t *testing.T, kind string, tenant func(*config.Tenant), o importer.ImportOptions, nights ...string) *heldWorld {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	w := &heldWorld{}
	switch kind {
	case "sqlite":
		path := filepath.Join(dir, "state.db")
		s, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		w.st = s
		if w.db, err = sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)"); err != nil {
			t.Fatal(err)
		}
	default:
		u := freshSchema(t)
		s, err := postgres.Open(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		w.st, w.dollar = s, true
		if w.db, err = sql.Open("postgres", u); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { w.db.Close(); w.st.Close() })
	w.outbox = filepath.Join(dir, "outbox")
	tn := config.DefaultTenant("north")
	if tenant != nil {
		tenant(&tn)
	}
	cfg := &config.Config{DataDir: dir, Spool: filepath.Join(dir, "spool"), Outbox: filepath.Join(dir, "outbox"), LockWait: 5e9, Tenants: []config.Tenant{tn}}
	w.tenant = &cfg.Tenants[0]
	w.im = importer.New(importer.Params{Config: cfg, Store: w.st, Mailer: mailer.New(nil, cfg.Outbox, nil), Now: func() time.Time { return heldClock }})
	for i, night := range nights {
		var oi importer.ImportOptions
		if i == len(nights)-1 {
			oi = o
		}
		r, err := w.im.ImportFile(ctx, w.tenant, night, oi)
		if err != nil {
			t.Fatal(err)
		}
		w.held = r
		if i < len(nights)-1 {
			wantStatus(t, r, runs.Completed)
		}
	}
	wantStatus(t, w.held, runs.Held)
	return w
}

// freshSchema is a PostgreSQL schema of its own on the test server, dropped after the test.
func freshSchema(t *testing.T) string { return storetest.PostgresSchema(t, "held") }

func (w *heldWorld) q(query string) string {
	if !w.dollar {
		return query
	}
	n := 0
	return regexpQ.ReplaceAllStringFunc(query, func(string) string { n++; return fmt.Sprintf("$%d", n) })
}

// asHeldBefore stores the held plan as an imsfeed before run_plan_parts kept it: the whole
// document in run_plans.
func (w *heldWorld) asHeldBefore(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	data, err := w.im.PlanBytes(ctx, w.held.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.db.ExecContext(ctx, w.q(`DELETE FROM run_plan_parts WHERE run_id = ?`), w.held.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := w.db.ExecContext(ctx, w.q(`INSERT INTO run_plans (run_id, plan) VALUES (?, ?)`), w.held.ID, data); err != nil {
		t.Fatal(err)
	}
}

func (w *heldWorld) parts(t *testing.T) int {
	t.Helper()
	var n int
	if err := w.db.QueryRow(w.q(`SELECT count(*) FROM run_plan_parts WHERE run_id = ?`), w.held.ID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (w *heldWorld) approve(t *testing.T) *runs.Run {
	t.Helper()
	r, err := w.im.Approve(context.Background(), importer.Decision{RunID: w.held.ID, By: "ops", Reason: "a school moved"})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, r, runs.Completed)
	return r
}

// wantIndexAgrees: the state index the approval carried on describes the rows.
func (w *heldWorld) wantIndexAgrees(t *testing.T) {
	t.Helper()
	rep, err := w.st.(store.IndexChecker).CheckIndex(context.Background(), w.tenant.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Errorf("after the approval the state index disagrees with the rows: %+v", rep)
	}
}

// TestApprovingALargeHoldAppliesItsPlan: a hold of a broken night of a large tenant (its plan
// stored in many parts) approves into the very state that applying its plan directly makes,
// and so does the same plan held as an imsfeed before run_plan_parts held it (one document in
// run_plans: a provider upgrades with holds waiting); undone, the approval gives the state of
// before it back. On both stores.
func TestApprovingALargeHoldAppliesItsPlan(t *testing.T) {
	if testing.Short() {
		t.Skip("imports a tenant of 4,000 persons (1,000 under the race detector) three times per store")
	}
	persons := 4000
	if underRace {
		// 139 s under the race detector at 4,000, 53 s at 2,000; at 1,000 the hold's 5,000
		// changes are still more than one piece of an approval when a piece is 2,048.
		persons = 1000
		defer importer.SetHeldPiece(2048)()
	}
	defer importer.SetPlanPiece(64 << 10)()  // many parts
	defer storetest.SetImagePart(64 << 10)() // the approval's before-images too
	dir := t.TempDir()
	var nights []string
	for i, o := range []feedgen.Options{{}, {DropPercent: 50, RenamePercent: 10}} {
		o.Persons, o.Groups, o.MembersPerGroup, o.Seed = persons, persons*12/100, 75, 12
		p := filepath.Join(dir, fmt.Sprintf("night%d.xml", i+1))
		var buf bytes.Buffer
		if err := feedgen.Write(&buf, o); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		nights = append(nights, p)
	}
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			parts := newHeldWorld(t, kind, nights...)
			c := parts.held.Counts
			if n := c.Persons.Deleted + c.Persons.Updated + c.Memberships.Deleted; n < persons*3 {
				t.Fatalf("the held night changes %d records; want a large hold", n)
			}
			t.Logf("held: %d changes, plan in %d parts", parts.held.Counts.Persons.Deleted+parts.held.Counts.Persons.Updated+
				parts.held.Counts.Memberships.Deleted+parts.held.Counts.Groups.Deleted+parts.held.Counts.Groups.Updated, parts.parts(t))
			if n := parts.parts(t); n < 5 {
				t.Fatalf("a plan of %d memberships removed in %d parts: want it in many", c.Memberships.Deleted, n)
			}
			data, err := parts.im.PlanBytes(ctx, parts.held.ID)
			if err != nil {
				t.Fatal(err)
			}
			var plan change.Plan
			if err := json.Unmarshal(data, &plan); err != nil {
				t.Fatal(err)
			}
			before := storetest.Dump(t, parts.st, parts.tenant.ID)
			approved := parts.approve(t)
			parts.wantIndexAgrees(t)

			whole := newHeldWorld(t, kind, nights...)
			whole.asHeldBefore(t)
			if whole.parts(t) != 0 {
				t.Fatal("the plan held before is still in parts")
			}
			whole.approve(t)
			whole.wantIndexAgrees(t)

			direct := newHeldWorld(t, kind, nights...)
			run := *direct.held
			run.Status = runs.Completed
			if err := direct.st.Apply(ctx, store.ApplyParams{Plan: &plan, Run: &run, Now: heldClock}); err != nil {
				t.Fatal(err)
			}

			want := storetest.Dump(t, direct.st, direct.tenant.ID)
			if got := storetest.Dump(t, parts.st, parts.tenant.ID); !reflect.DeepEqual(got, want) {
				t.Errorf("approving the plan held in parts: %s", dumpDiff(got, want))
			}
			if got := storetest.Dump(t, whole.st, whole.tenant.ID); !reflect.DeepEqual(got, want) {
				t.Errorf("approving the plan held whole (before the upgrade): %s", dumpDiff(got, want))
			}
			if approved.VersionAfter != run.VersionAfter || approved.Counts != parts.held.Counts {
				t.Errorf("approved run: version %d, counts %+v; the plan applied directly: version %d, counts %+v",
					approved.VersionAfter, approved.Counts, run.VersionAfter, parts.held.Counts)
			}

			// The approval's before-images (taken as the plan was read in pieces) were stored as
			// they were taken, in parts, and give the state back, and the index with it.
			var size, largest int64
			err = parts.db.QueryRow(parts.q(`SELECT sum(n), max(n) FROM (SELECT length(images) AS n FROM run_undo WHERE run_id = ?
UNION ALL SELECT length(data) FROM run_undo_parts WHERE run_id = ?) AS sizes`), approved.ID, approved.ID).Scan(&size, &largest)
			if err != nil {
				t.Fatal(err)
			}
			if largest > size/2 {
				t.Errorf("the approval's before-images of %d bytes kept with a value of %d: want them in parts", size, largest)
			}
			if _, err := parts.im.Undo(ctx, importer.UndoRequest{RunID: approved.ID, By: "ops", Reason: "approved too soon"}); err != nil {
				t.Fatalf("undo the approved run: %v", err)
			}
			storetest.SameState(t, "after undoing the approved run", storetest.Dump(t, parts.st, parts.tenant.ID), before)
			parts.wantIndexAgrees(t)
		})
	}
}

func dumpDiff(got, want map[string][]string) string {
	for table, rows := range want {
		if !reflect.DeepEqual(got[table], rows) {
			for i := range max(len(rows), len(got[table])) {
				var g, w string
				if i < len(got[table]) {
					g = got[table][i]
				}
				if i < len(rows) {
					w = rows[i]
				}
				if g != w {
					return fmt.Sprintf("table %s: %d rows, want %d; first difference:\n got %s\nwant %s", table, len(got[table]), len(rows), g, w)
				}
			}
		}
	}
	return fmt.Sprintf("tables %d, want %d", len(got), len(want))
}

// TestDamagedHeldPlanIsRefused: a stored plan whose part was altered, cut or lost is refused
// with an error that says so, and nothing changes: not the tenant, not the run (still held).
func TestDamagedHeldPlanIsRefused(t *testing.T) {
	defer importer.SetPlanPiece(4096)()
	dir := t.TempDir()
	var nights []string
	for i, o := range []feedgen.Options{{}, {DropPercent: 30}} {
		var buf bytes.Buffer
		if err := feedgen.Write(&buf, small(o)); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, fmt.Sprintf("night%d.xml", i+1))
		if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		nights = append(nights, p)
	}
	damages := []struct {
		name, sql string
		args      func(w *heldWorld, part []byte) []any
		want      string
	}{
		{"a part altered", `UPDATE run_plan_parts SET data = ? WHERE run_id = ? AND seq = 1`, func(w *heldWorld, part []byte) []any {
			// Still gzip, still JSON: another person's key.
			plain := gunzip(t, part)
			altered := bytes.Replace(plain, []byte(`"P0`), []byte(`"Q0`), 1)
			if bytes.Equal(altered, plain) {
				t.Fatalf("part 1 names no person: %.200s", plain)
			}
			return []any{gzipped(t, altered), w.held.ID}
		}, "SHA-256"},
		{"a part's bytes flipped", `UPDATE run_plan_parts SET data = ? WHERE run_id = ? AND seq = 1`, func(w *heldWorld, part []byte) []any {
			bad := bytes.Clone(part)
			bad[len(bad)/2] ^= 0xff
			return []any{bad, w.held.ID}
		}, "part 1"},
		{"a part lost", `DELETE FROM run_plan_parts WHERE run_id = ? AND seq = 2`, func(w *heldWorld, _ []byte) []any {
			return []any{w.held.ID}
		}, "part 2 of"},
		{"the last part lost", `DELETE FROM run_plan_parts WHERE run_id = ? AND seq = (SELECT max(seq) FROM run_plan_parts WHERE run_id = ?)`, func(w *heldWorld, _ []byte) []any {
			return []any{w.held.ID, w.held.ID}
		}, "SHA-256"},
	}
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			for _, d := range damages {
				t.Run(strings.ReplaceAll(d.name, " ", "_"), func(t *testing.T) {
					ctx := context.Background()
					w := newHeldWorld(t, kind, nights...)
					if n := w.parts(t); n < 4 {
						t.Fatalf("the plan is in %d parts; the test needs 4", n)
					}
					var part []byte
					if err := w.db.QueryRow(w.q(`SELECT data FROM run_plan_parts WHERE run_id = ? AND seq = 1`), w.held.ID).Scan(&part); err != nil {
						t.Fatal(err)
					}
					if _, err := w.db.ExecContext(ctx, w.q(d.sql), d.args(w, part)...); err != nil {
						t.Fatal(err)
					}
					before := storetest.Dump(t, w.st, w.tenant.ID)
					_, err := w.im.Approve(ctx, importer.Decision{RunID: w.held.ID, By: "ops", Reason: "ok"})
					if err == nil || !strings.Contains(err.Error(), d.want) || !strings.Contains(err.Error(), fmt.Sprintf("approve run %d", w.held.ID)) {
						t.Fatalf("approving a damaged plan: %v; want a refusal naming the run and %q", err, d.want)
					}
					if after := storetest.Dump(t, w.st, w.tenant.ID); !reflect.DeepEqual(after, before) {
						t.Errorf("a refused approval changed the tenant: %s", dumpDiff(after, before))
					}
					if r, _ := w.st.Run(ctx, w.held.ID); r.Status != runs.Held {
						t.Errorf("after a refused approval the run is %s, want held", r.Status)
					}
				})
			}
		})
	}
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var regexpQ = regexp.MustCompile(`\?`)
