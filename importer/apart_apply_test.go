package importer_test

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/importer"
	"github.com/imsfeed/imsfeed/mailer"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/safety"
	"github.com/imsfeed/imsfeed/store"
	"github.com/imsfeed/imsfeed/store/postgres"
	"github.com/imsfeed/imsfeed/store/sqlite"
	"github.com/imsfeed/imsfeed/store/storetest"
)

// TestAppliedNightWithItsRemovalsApartIsTheWholePlansApply: a broken night that passes (the
// tenant's deletes limits off), applied in pieces with its membership removals read from
// apart, stores what the same night applied with the whole plan listed stores: the rows, a
// state index that agrees with them, the run (counts, verdict, reason, versions), the status
// mails, and, undone, the state before it. The removals come from many spill partitions, the
// file's memberships from a scratch file, and the store gets many pieces. On both stores.
func TestAppliedNightWithItsRemovalsApartIsTheWholePlansApply(t *testing.T) {
	defer importer.SetSpillBudget(4096)()
	defer importer.SetApplyApartMin(0)()
	defer importer.SetApplyPiece(97)()
	nights, many := brokenNights(t)
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			apartBefore, personsBefore := importer.RemovalsAppliedApart(), importer.PersonsAppliedApart()
			apart := newAppliedWorld(t, kind, nights...)
			n := importer.RemovalsAppliedApart() - apartBefore
			if c := apart.last.Counts.Memberships; n != int64(c.Deleted+c.Archived) || n < int64(many) {
				t.Fatalf("%d membership removals applied from apart; the plan has %d deletes and %d turned manual: want them all, and many", n, c.Deleted, c.Archived)
			}
			// The persons going to the trash can, too: more than a piece holds.
			np := importer.PersonsAppliedApart() - personsBefore
			if c := apart.last.Counts.Persons; np != int64(c.Deleted) || np < int64(many)/4 || np < 3*97 {
				t.Fatalf("%d persons trashed applied from apart; the plan trashes %d: want them all, and many", np, c.Deleted)
			}
			listed := importer.ListRemovals()
			whole := newAppliedWorld(t, kind, nights...)
			listed()
			if importer.RemovalsAppliedApart()-apartBefore != n || importer.PersonsAppliedApart()-personsBefore != np {
				t.Fatalf("the night with its removals listed was applied from apart too")
			}

			a, w := apart.last, whole.last
			if a.Status != runs.Completed || a.Reason != w.Reason || a.Counts != w.Counts || a.VersionBefore != w.VersionBefore || a.VersionAfter != w.VersionAfter ||
				!reflect.DeepEqual(a.Verdict, w.Verdict) || !reflect.DeepEqual(a.Attention, w.Attention) || !reflect.DeepEqual(a.Warnings, w.Warnings) {
				t.Errorf("the night applied in pieces: %s, reason %q, counts %+v, versions %d-%d; applied whole: %s, %q, %+v, %d-%d",
					a.Status, a.Reason, a.Counts, a.VersionBefore, a.VersionAfter, w.Status, w.Reason, w.Counts, w.VersionBefore, w.VersionAfter)
			}
			am, wm := mails(t, apart.outbox), mails(t, whole.outbox)
			if len(am) != 2 || !reflect.DeepEqual(am, wm) {
				t.Errorf("the status mails of the night applied in pieces (%d) differ from those of the night applied whole (%d)", len(am), len(wm))
			}
			storetest.SameState(t, "the tenant after the broken night", storetest.Dump(t, apart.st, "north"), storetest.Dump(t, whole.st, "north"))
			storetest.IndexAgrees(t, apart.st, "north")

			// Undone, both are the tenant as the first night left it.
			for _, x := range []*appliedWorld{apart, whole} {
				if _, err := x.im.Undo(context.Background(), importer.UndoRequest{RunID: x.last.ID, By: "test", Reason: "broken export"}); err != nil {
					t.Fatal(err)
				}
			}
			storetest.SameState(t, "the tenant after the undo", storetest.Dump(t, apart.st, "north"), storetest.Dump(t, whole.st, "north"))
			storetest.SameState(t, "the tenant undone against the first night", storetest.Dump(t, apart.st, "north"), apart.first)
			storetest.IndexAgrees(t, apart.st, "north")
		})
	}
}

type appliedWorld struct {
	st     store.Store
	im     *importer.Importer
	outbox string
	first  map[string][]string // the tenant's dump after the first night
	last   *runs.Run
}

// newAppliedWorld imports the nights in turn into tenant "north" of a new store, whose deletes
// limits are off (a broken night passes), each night applied.
func newAppliedWorld(t *testing.T, kind string, nights ...string) *appliedWorld {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	w := &appliedWorld{}
	var err error
	if kind == "sqlite" {
		w.st, err = sqlite.Open(ctx, filepath.Join(dir, "state.db"))
	} else {
		w.st, err = postgres.Open(ctx, freshSchema(t))
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.st.Close() })
	w.outbox = filepath.Join(dir, "outbox")
	tn := config.DefaultTenant("north")
	tn.Safety.WindowDays = 0
	for i := range tn.Safety.Types {
		tn.Safety.Types[i].Deletes = safety.Limit{}
	}
	cfg := &config.Config{DataDir: dir, Spool: filepath.Join(dir, "spool"), Outbox: w.outbox, LockWait: 5e9, Tenants: []config.Tenant{tn}}
	clock := heldClock
	w.im = importer.New(importer.Params{Config: cfg, Store: w.st, Mailer: mailer.New(nil, cfg.Outbox, nil), Now: func() time.Time { return clock }})
	for i, night := range nights {
		clock = clock.Add(24 * time.Hour)
		r, err := w.im.ImportFile(ctx, &cfg.Tenants[0], night, importer.ImportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, r, runs.Completed)
		w.last = r
		if i == 0 {
			w.first = storetest.Dump(t, w.st, "north")
		}
	}
	return w
}
