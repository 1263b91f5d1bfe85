package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/console"
	"github.com/imsfeed/imsfeed/live"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/safety"
	"github.com/imsfeed/imsfeed/samples/feedgen"
	"github.com/imsfeed/imsfeed/store"
)

// An SIS keeps sending while a night is held. Approving it in the console applies the plan on
// top of the live requests when none of them touched what the plan changes (a new pupil put in
// a class the plan leaves alone), says so on the run, and keeps the state index true. A live
// request that changed a person the plan changes makes the approval refuse, naming the person
// and the request, and nothing changes.
func TestConsoleApprovesAHeldRunWhileTheSISSends(t *testing.T) {
	stores(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		w := newWorld(t, st)
		b := w.client()
		b.signIn("kari@example.org", password)

		changed := map[string]bool{} // the persons and groups the held plan changes
		var updated string           // a person it updates
		err := w.im.ReadPlan(ctx, w.held.ID, func(*change.Plan) error { return nil }, func(p *change.Plan) error {
			for _, x := range p.Persons {
				changed[x.Person.Key] = true
				if x.Op == change.Update && updated == "" {
					updated = x.Person.Key
				}
			}
			for _, x := range p.Groups {
				changed[x.Group.Key] = true
			}
			return nil
		})
		if err != nil || updated == "" {
			t.Fatalf("the held plan: %v, a person it updates %q", err, updated)
		}
		state, err := st.LoadState(ctx, w.tenant)
		if err != nil {
			t.Fatal(err)
		}
		var class string
		for k := range state.Groups {
			if !changed[k] && (class == "" || k < class) {
				class = k
			}
		}
		if class == "" {
			t.Fatal("the held plan changes every group")
		}

		svc := &live.Service{Store: st}
		lt := &live.Tenant{ID: w.tenant}
		send := func(typ record.Type, a live.Action, it live.Item) {
			t.Helper()
			res := svc.Do(ctx, lt, &live.Request{Dialect: "imses1", Operation: string(a), Type: typ, Action: a, Items: []live.Item{it}})
			if !res.First().OK() {
				t.Fatalf("live %s %s: %+v", a, it.Key, res.First())
			}
		}
		pupil := &record.Person{Key: "live-new-pupil", Name: "Ada Lovelace"}
		pupil.ComputeHash()
		send(record.Persons, live.Create, live.Item{Key: pupil.Key, Person: pupil})
		m := record.Membership{MembershipKey: record.MembershipKey{Group: class, Member: pupil.Key, Role: "01"}, MemberType: record.MemberPerson}
		m.ComputeHash()
		send(record.Memberships, live.Create, live.Item{Key: "live-membership-1", Memberships: []record.Membership{m}})

		_, page := b.get(fmt.Sprintf("/runs/%d", w.held.ID))
		if !strings.Contains(page, "by 2 live requests: approval applies the plan on top of them if none of them touched what it changes") {
			t.Fatalf("the held run's page does not say what approval will do after 2 live requests:\n%s", page)
		}
		before, _ := st.Status(ctx, w.tenant)
		code, loc := b.post(fmt.Sprintf("/runs/%d/approve", w.held.ID), url.Values{"csrf": {csrfOf(t, page)}, "reason": {"checked with the school"}})
		if code != http.StatusSeeOther {
			t.Fatalf("approval after live requests about other objects: %d\n%s", code, loc)
		}
		r, err := st.Run(ctx, w.held.ID)
		if err != nil || r.Status != runs.Completed || r.VersionBefore != before.StateVersion {
			t.Fatalf("the approved run: %+v %v (state version %d before it)", r, err, before.StateVersion)
		}
		after, _ := st.Status(ctx, w.tenant)
		if c := r.Counts.Persons; c.Before != before.Persons.Active || c.After != after.Persons.Active {
			t.Errorf("the run counts persons %d before and %d after; the store had %d and has %d", c.Before, c.After, before.Persons.Active, after.Persons.Active)
		}
		persons, _, err := st.StoredRecords(ctx, w.tenant, []string{pupil.Key, updated}, nil)
		if err != nil || persons[pupil.Key].Name != "Ada Lovelace" {
			t.Fatalf("the live request's pupil after the approval: %+v %v", persons[pupil.Key], err)
		}
		objs, err := st.(store.Live).LiveLoad(ctx, w.tenant, store.LiveQuery{MembershipsOfPersons: []string{pupil.Key}})
		if _, ok := objs.Memberships[m.MembershipKey]; err != nil || !ok {
			t.Fatalf("the live request's membership %s is gone after the approval (%v)", m.MembershipKey, err)
		}
		if rep, err := st.(store.IndexChecker).CheckIndex(ctx, w.tenant, false); err != nil || !rep.OK() {
			t.Fatalf("the state index after an approval on top of live requests: %+v %v", rep, err)
		}
		_, page = b.get(fmt.Sprintf("/runs/%d", w.held.ID))
		if !strings.Contains(page, "2 live requests changed the tenant&#39;s state after this plan was made") {
			t.Errorf("the approved run's page does not say it was applied on top of 2 live requests:\n%s", page)
		}

		// The next broken night is held; the SIS then renames a person that plan updates.
		held := w.holdAgain("n3.xml", feedgen.Options{DropPercent: 60, RenamePercent: 20})
		var again string
		w.im.ReadPlan(ctx, held.ID, func(*change.Plan) error { return nil }, func(p *change.Plan) error {
			for _, x := range p.Persons {
				if x.Op == change.Update && again == "" {
					again = x.Person.Key
				}
			}
			return nil
		})
		if again == "" {
			t.Fatal("the second held plan updates no person")
		}
		renamed := &record.Person{Key: again, Name: "Changed By The SIS"}
		renamed.ComputeHash()
		send(record.Persons, live.Replace, live.Item{Key: again, Person: renamed})
		before, _ = st.Status(ctx, w.tenant)
		_, page = b.get(fmt.Sprintf("/runs/%d", held.ID))
		code, page = b.post(fmt.Sprintf("/runs/%d/approve", held.ID), url.Values{"csrf": {csrfOf(t, page)}, "reason": {"looks right"}})
		if code != http.StatusConflict || !strings.Contains(page, fmt.Sprintf("person &#34;%s&#34;, which this plan updates, was changed by live request", again)) {
			t.Fatalf("approval after a live request changed a person the plan updates (%d):\n%s", code, page)
		}
		if now, _ := st.Status(ctx, w.tenant); now != before {
			t.Fatalf("a refused approval changed the state: %+v, was %+v", now, before)
		}
		if r, _ := st.Run(ctx, held.ID); r.Status != runs.Held {
			t.Fatalf("a refused approval decided the run: %s", r.Status)
		}
	})
}

// holdAgain imports a feedgen file for the world's tenant, which the safety filter must hold.
func (w *world) holdAgain(name string, o feedgen.Options) *runs.Run {
	w.t.Helper()
	o.Groups = 30
	r := w.importGen(name, o)
	if r.Status != runs.Held {
		w.t.Fatalf("%s: %s, want held", name, r.Status)
	}
	return r
}

// "Import now" is offered only where serve's queue is there (console.Params.ImportNow; the
// queue itself is exercised end to end in cmd/imsfeed), only to operators of the tenant: a
// console without it refuses the POST (409), another tenant's operator gets 404, and neither
// puts anything into the queue.
func TestConsoleImportNowOnlyWithTheQueueAndForTheTenantsOperators(t *testing.T) {
	w := newWorld(t, sqliteStore(t))
	b := w.client()
	b.signIn("kari@example.org", password)
	_, page := b.get("/tenants/" + w.tenant)
	if strings.Contains(page, "Import now") {
		t.Fatalf("a console without serve's queue offers Import now:\n%s", page)
	}
	if code, _ := b.post("/tenants/"+w.tenant+"/import", url.Values{"csrf": {csrfOf(t, page)}}); code != http.StatusConflict {
		t.Fatalf("Import now without a queue: %d, want 409", code)
	}

	var asked []string
	c, err := console.New(console.Params{Config: w.cfg, Store: w.st, Importer: w.im, ImportNow: func(_ context.Context, tenant string) (time.Time, error) {
		asked = append(asked, tenant)
		return time.Date(2026, 12, 2, 21, 0, 0, 0, time.UTC), nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	w.srv = httptest.NewTLSServer(c)
	t.Cleanup(w.srv.Close)
	ola := w.client()
	ola.signIn("ola@example.org", password)
	_, page = ola.get("/tenants/" + w.other)
	if code, _ := ola.post("/tenants/"+w.tenant+"/import", url.Values{"csrf": {csrfOf(t, page)}}); code != http.StatusNotFound || len(asked) != 0 {
		t.Fatalf("another tenant's operator: %d, queued %v", code, asked)
	}
	b = w.client()
	b.signIn("kari@example.org", password)
	_, page = b.get("/tenants/" + w.tenant)
	code, loc := b.post("/tenants/"+w.tenant+"/import", url.Values{"csrf": {csrfOf(t, page)}})
	if code != http.StatusSeeOther || len(asked) != 1 || asked[0] != w.tenant {
		t.Fatalf("Import now: %d %s, queued %v", code, loc, asked)
	}
	if _, page = b.get(loc); !strings.Contains(page, "Import requested for") {
		t.Fatalf("the tenant's page after Import now:\n%s", page)
	}
}

// A hold-removals night applies its inserts and holds its removals; approved after a live
// request, its counts still add up (before, the changes, after: the store's) and its reason no
// longer says the removals wait (QA: the inserts were counted twice, after 216 where the store
// had 215).
func TestHoldRemovalsApprovedOnTopOfLiveRequestsCountsOnce(t *testing.T) {
	stores(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		w := newWorld(t, st)
		b := w.client()
		b.signIn("kari@example.org", password)
		_, page := b.get(fmt.Sprintf("/runs/%d", w.held.ID))
		if code, _ := b.post(fmt.Sprintf("/runs/%d/reject", w.held.ID), url.Values{"csrf": {csrfOf(t, page)}, "reason": {"start over"}}); code != http.StatusSeeOther {
			t.Fatalf("reject: %d", code)
		}
		w.cfg.Tenants[0].Safety.OnTrip = safety.HoldRemovals
		held := w.holdAgain("n3.xml", feedgen.Options{DropPercent: 40, RenamePercent: 20, Night: 5})
		if held.VersionAfter == held.VersionBefore || !strings.Contains(held.Reason, "removals wait for approval") {
			t.Fatalf("a hold-removals night applied nothing or says nothing waits: %+v", held)
		}
		pupil := &record.Person{Key: "live-new-pupil", Name: "Ada Lovelace"}
		pupil.ComputeHash()
		res := (&live.Service{Store: st}).Do(ctx, &live.Tenant{ID: w.tenant}, &live.Request{Dialect: "imses1", Operation: "createPerson", Type: record.Persons, Action: live.Create, Items: []live.Item{{Key: pupil.Key, Person: pupil}}})
		if !res.First().OK() {
			t.Fatalf("live createPerson: %+v", res.First())
		}
		_, page = b.get(fmt.Sprintf("/runs/%d", held.ID))
		if code, loc := b.post(fmt.Sprintf("/runs/%d/approve", held.ID), url.Values{"csrf": {csrfOf(t, page)}, "reason": {"checked"}}); code != http.StatusSeeOther {
			t.Fatalf("approval of the held removals after a live request: %d\n%s", code, loc)
		}
		r, err := st.Run(ctx, held.ID)
		if err != nil {
			t.Fatal(err)
		}
		now, _ := st.Status(ctx, w.tenant)
		for _, c := range []struct {
			name   string
			counts change.TypeCounts
			store  int
		}{{"persons", r.Counts.Persons, now.Persons.Active}, {"groups", r.Counts.Groups, now.Groups.Active}, {"memberships", r.Counts.Memberships, now.Memberships.Synced}} {
			k := c.counts
			if k.After != c.store || k.Before+k.Inserted+k.Restored-k.Deleted-k.Archived != k.After {
				t.Errorf("%s: %+v, the store has %d: before, changes and after do not add up", c.name, k, c.store)
			}
		}
		if strings.Contains(r.Reason, "wait for approval") {
			t.Errorf("the approved run's reason still says its removals wait: %q", r.Reason)
		}
	})
}
