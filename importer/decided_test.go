package importer_test

import (
	"context"
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/importer"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/samples/feedgen"
	"github.com/imsfeed/imsfeed/store"
)

// A decision refused because the run was decided already names when, in the tenant's zone as
// every other time on the console's page and in its mail (here Tokyo on a UTC machine).
func TestRefusedDecisionSaysWhenInTheTenantsZone(t *testing.T) {
	t.Setenv("TZ", "UTC")
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open, func(tn *config.Tenant) { tn.Timezone = "Asia/Tokyo" })
		ctx := context.Background()
		tokyo := e.tenant.Location()
		wantStatus(t, e.imp(e.file("whole.xml", feedgen.Options{})), runs.Completed)
		held := e.imp(e.file("broken.xml", feedgen.Options{DropPercent: 30}))
		wantStatus(t, held, runs.Held)
		approved, err := e.im.Approve(ctx, importer.Decision{RunID: held.ID, By: "ops", Reason: "checked"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.im.Approve(ctx, importer.Decision{RunID: held.ID, By: "ops", Reason: "again"})
		if want := "already approved by ops at " + runs.TimeText(approved.Approval.At, tokyo); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("second approval: %v\nwant it to say %q", err, want)
		}
		held = e.imp(e.file("broken2.xml", feedgen.Options{DropPercent: 60}))
		wantStatus(t, held, runs.Held)
		rejected, err := e.im.Reject(ctx, importer.Decision{RunID: held.ID, By: "ops", Reason: "wrong file"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.im.Approve(ctx, importer.Decision{RunID: held.ID, By: "ops", Reason: "after all"})
		if want := "rejected by ops at " + runs.TimeText(rejected.Rejection.At, tokyo); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("approval of a rejected run: %v\nwant it to say %q", err, want)
		}
	})
}
