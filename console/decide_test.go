package console_test

import (
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
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/store"
)

// Issue 12: the console decides through the same checks as `imsfeed approve`: a hold whose
// tenant's state moved on since the plan was made is refused with the command line's words and
// nothing changes; rejecting it records the signed-in operator and sends the status mail.
func TestConsoleApprovalChecksStateVersionAndRejectionMails(t *testing.T) {
	stores(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		w := newWorld(t, st)
		b := w.client()
		b.signIn("kari@example.org", password)
		_, page := b.get(fmt.Sprintf("/runs/%d", w.held.ID))
		tok := csrfOf(t, page)
		// The state moves on after the hold: another process renames a person.
		state, err := st.LoadState(ctx, w.tenant)
		if err != nil {
			t.Fatal(err)
		}
		var key string
		for k := range state.Persons {
			key = k
			break
		}
		persons, _, err := st.StoredRecords(ctx, w.tenant, []string{key}, nil)
		if err != nil {
			t.Fatal(err)
		}
		p := persons[key]
		p.Name += " Renamed"
		other := &runs.Run{Tenant: w.tenant, Status: runs.Running, StartedAt: time.Now().UTC(), Mode: "snapshot"}
		if err := st.CreateRun(ctx, other); err != nil {
			t.Fatal(err)
		}
		other.Status = runs.Completed
		plan := &change.Plan{Tenant: w.tenant, BaseVersion: state.Version, Persons: []change.Person{{Op: change.Update, Person: p}}}
		if err := st.Apply(ctx, store.ApplyParams{Plan: plan, Run: other, Now: time.Now().UTC()}); err != nil {
			t.Fatal(err)
		}
		before, _ := st.Status(ctx, w.tenant)
		code, page := b.post(fmt.Sprintf("/runs/%d/approve", w.held.ID), url.Values{"csrf": {tok}, "reason": {"looks right"}})
		if code != http.StatusConflict || !strings.Contains(page, "the tenant&#39;s state changed since the plan was made") {
			t.Fatalf("a stale approval (%d):\n%s", code, page)
		}
		if after, _ := st.Status(ctx, w.tenant); after != before {
			t.Fatalf("a refused approval changed the state: %+v, was %+v", after, before)
		}
		if r, _ := st.Run(ctx, w.held.ID); r.Status != runs.Held {
			t.Fatalf("a refused approval decided the run: %s", r.Status)
		}
		// Rejecting it is recorded as Kari's and mailed.
		code, loc := b.post(fmt.Sprintf("/runs/%d/reject", w.held.ID), url.Values{"csrf": {tok}, "reason": {"the export lost a school"}})
		if code != http.StatusSeeOther || loc != fmt.Sprintf("/runs/%d", w.held.ID) {
			t.Fatalf("reject: %d %s", code, loc)
		}
		r, err := st.Run(ctx, w.held.ID)
		if err != nil || r.Status != runs.Rejected || r.Rejection == nil || r.Rejection.By != "Kari Nordmann" || r.Rejection.Reason != "the export lost a school" {
			t.Fatalf("run after rejection: %+v %v", r, err)
		}
		if after, _ := st.Status(ctx, w.tenant); after != before {
			t.Fatalf("a rejection changed the state: %+v, was %+v", after, before)
		}
		_, page = b.get(fmt.Sprintf("/runs/%d", w.held.ID))
		if !strings.Contains(page, `id="status">rejected`) || !strings.Contains(page, "Rejected by <strong>Kari Nordmann</strong>") || strings.Contains(page, "Approve and apply") {
			t.Fatalf("run page after rejection:\n%s", page)
		}
		// The same status mail as `imsfeed reject` sends (quoted-printable: short lines).
		mails, _ := filepath.Glob(filepath.Join(w.cfg.Outbox, "*.eml"))
		var rejected bool
		for _, m := range mails {
			b, _ := os.ReadFile(m)
			rejected = rejected || strings.Contains(string(b), fmt.Sprintf("Subject: [imsfeed] %s: held import rejected (run %d)", w.tenant, w.held.ID)) &&
				strings.Contains(string(b), "Rejected by Kari Nordmann at ")
		}
		if !rejected {
			t.Fatalf("no status mail of the rejection among %v", mails)
		}
	})
}
