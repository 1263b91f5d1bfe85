package importer_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imsfeed/imsfeed/importer"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/samples/feedgen"
	"github.com/imsfeed/imsfeed/source"
	"github.com/imsfeed/imsfeed/store"
)

// serve's queue retries a passing failure: while it may still retry, the attempt is neither
// recorded nor mailed; the last attempt records one failure that lists the earlier ones.
func TestTransientFailureIsDeferredThenRecordedOnceWithItsAttempts(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open, nil)
		e.cfg.LockWait = 100 * time.Millisecond
		folder := e.sourceFolder()
		data, _ := os.ReadFile(e.file("x.xml", feedgen.Options{}))
		os.WriteFile(filepath.Join(folder, "export.xml"), data, 0o644)
		// Another process holds the tenant: the store is busy for this attempt.
		release, err := e.st.LockTenant(ctx, e.tenant.ID, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		slot := time.Now().Truncate(time.Minute)

		_, err = e.im.RunSlot(importer.WithRetry(ctx, importer.Retry{Defer: true}), e.tenant, slot)
		var te *importer.TransientError
		if !errors.As(err, &te) || !errors.Is(err, store.ErrLocked) {
			t.Fatalf("a busy tenant with retries left: %v, want a TransientError", err)
		}
		if list, _ := e.st.ListRuns(ctx, store.ListRunsParams{Tenant: e.tenant.ID}); len(list) != 0 {
			t.Fatalf("a deferred attempt recorded %d runs", len(list))
		}

		last := importer.Retry{Earlier: []string{"attempt 1 at 02:00:01: busy", "attempt 2 at 02:00:06: busy"}}
		r, err := e.im.RunSlot(importer.WithRetry(ctx, last), e.tenant, slot)
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, r, runs.Failed)
		if !strings.Contains(r.Error.Message, "after 2 earlier attempts: attempt 1 at 02:00:01: busy; attempt 2") || !r.Slot.Equal(slot.UTC()) {
			t.Errorf("last attempt's failure %q (slot %s), want the earlier attempts listed and the slot", r.Error.Message, r.Slot)
		}
		if mails, _ := filepath.Glob(filepath.Join(e.cfg.Outbox, "*.eml")); len(mails) != 1 {
			t.Errorf("%d mails, want one for the whole slot", len(mails))
		}
	})
}

// What retrying can fix, and what it cannot.
func TestTransient(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, true},
		{store.ErrLocked, true},
		{source.ErrNotSettled, true},
		{source.ErrHostKey, false},
		{errors.New("export.xml:3:9: unexpected end of file"), false},
	} {
		if got := importer.Transient(c.err); got != c.want {
			t.Errorf("Transient(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
