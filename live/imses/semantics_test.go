package imses

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imsfeed/imsfeed/live"
	"github.com/imsfeed/imsfeed/store"
)

var msgSeq atomic.Int64

// soap builds a request as the reference client does: a UsernameToken with PasswordText (no
// Nonce here: it is optional), a messageIdentifier, and the body element in its namespace.
func soap(op, inner string) string {
	seq := msgSeq.Add(1)
	ns := nsPMSMsg
	switch {
	case strings.Contains(op, "Group") && !strings.Contains(op, "Membership"):
		ns = nsGMSMsg
	case strings.Contains(op, "Membership"):
		ns = nsMMSMsg
	}
	return fmt.Sprintf(`<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header>`+
		`<h:syncRequestHeaderInfo xmlns:h="%s"><h:messageIdentifier>test-%d-%d</h:messageIdentifier></h:syncRequestHeaderInfo>`+
		`<o:Security s:mustUnderstand="1" xmlns:o="%s"><o:UsernameToken><o:Username>%s</o:Username><o:Password Type="%s">%s</o:Password></o:UsernameToken></o:Security>`+
		`</s:Header><s:Body><%sRequest xmlns="%s">%s</%sRequest></s:Body></s:Envelope>`,
		nsBind, time.Now().UnixNano(), seq, nsWSSE, corpusUser, pwText, esc(corpusPass), op, ns, inner, op)
}

func sid(key string) string { return `<sourcedId><identifier>` + key + `</identifier></sourcedId>` }

func personXMLIn(first, last, email string) string {
	s := `<person><name><partName><namePartType>First</namePartType><namePartValue>` + first + `</namePartValue></partName>` +
		`<partName><namePartType>Last</namePartType><namePartValue>` + last + `</namePartValue></partName></name>`
	if email != "" {
		s += `<email>` + email + `</email>`
	}
	return s + `</person>`
}

func (e *env) readPerson(key string) answer {
	return e.post(soap("readPerson", sid(key)))
}

func TestPersonSemanticsOnBothStores(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open)
		e.post(soap("createPerson", sid("P1")+personXMLIn("Ada", "Lovelace", "ada@example.org"))).want(t, "create", "success", "")

		// update changes only what it carries: the email stays.
		upd := `<person><name><partName><namePartType>First</namePartType><namePartValue>Augusta</namePartValue></partName>` +
			`<partName><namePartType>Last</namePartType><namePartValue>Lovelace</namePartValue></partName></name></person>`
		e.post(soap("updatePerson", sid("P1")+upd)).want(t, "update", "success", "")
		a := e.readPerson("P1")
		p := a.root.Path("Body", "readPersonResponse", "person")
		if p.Child("formatName").Str() != "Augusta Lovelace" || p.Child("email").Str() != "ada@example.org" {
			t.Fatalf("update: %s", a.raw)
		}
		// replace is the whole person: the email goes.
		e.post(soap("replacePerson", sid("P1")+personXMLIn("Augusta", "Lovelace", ""))).want(t, "replace", "success", "")
		if p := e.readPerson("P1").root.Path("Body", "readPersonResponse", "person"); p.Child("email") != nil {
			t.Fatal("replace kept a field it did not carry")
		}
		// replace and update create what is missing.
		e.post(soap("replacePerson", sid("P2")+personXMLIn("Grace", "Hopper", ""))).want(t, "replace of a new key", "success", "")
		e.post(soap("updatePerson", sid("P3")+personXMLIn("Alan", "Turing", ""))).want(t, "update of a new key", "success", "")
		if s := e.status(); s.Persons.Active != 3 {
			t.Fatalf("replace/update did not create: %+v", s)
		}
		// delete → trash can; read → unknownobject; delete again → unknownobject;
		// create → restored from the trash can.
		e.post(soap("deletePerson", sid("P2"))).want(t, "delete", "success", "")
		e.readPerson("P2").want(t, "read of a trashed person", "failure", "unknownobject")
		e.post(soap("deletePerson", sid("P2"))).want(t, "delete of a trashed person", "failure", "unknownobject")
		e.post(soap("deletePerson", sid("NOBODY"))).want(t, "delete of an unknown person", "failure", "unknownobject")
		e.post(soap("createPerson", sid("P2")+personXMLIn("Grace", "Hopper", ""))).want(t, "create of a trashed person", "success", "")
		if s := e.status(); s.Persons.Active != 3 || s.Persons.Trashed != 0 {
			t.Fatalf("create did not restore from the trash can: %+v", s)
		}
		e.post(soap("createPerson", sid("P2")+personXMLIn("Grace", "Hopper", ""))).want(t, "create of an active key", "failure", "idallocinusefail")

		// A plural request with one bad item: the others apply, one version bump, statuses in order.
		v := e.status().StateVersion
		a = e.post(soap("createPersons", `<personIdPairSet>`+
			`<personIdPair>`+sid("P4")+personXMLIn("Edsger", "Dijkstra", "")+`</personIdPair>`+
			`<personIdPair>`+sid("P1")+personXMLIn("Dup", "Licate", "")+`</personIdPair>`+
			`<personIdPair>`+sid("P5")+personXMLIn("Barbara", "Liskov", "")+`</personIdPair></personIdPairSet>`))
		if len(a.statuses) != 3 || a.statuses[0].major != "success" || a.statuses[1].minor != "idallocinusefail" || a.statuses[2].major != "success" {
			t.Fatalf("createPersons statuses: %+v", a.statuses)
		}
		if s := e.status(); s.StateVersion != v+1 || s.Persons.Active != 5 {
			t.Fatalf("createPersons: %+v (version before %d)", s, v)
		}
		a = e.post(soap("readPersons", `<sourcedIdSet><identifier>P4</identifier><identifier>NOPE</identifier><identifier>P5</identifier></sourcedIdSet>`))
		if len(a.statuses) != 3 || a.statuses[1].minor != "unknownobject" ||
			len(a.root.Path("Body", "readPersonsResponse", "personIdPairSet").Children("personIdPair")) != 2 {
			t.Fatalf("readPersons: %s", a.raw)
		}
	})
}

func TestGroupAndMembershipSemanticsOnBothStores(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open)
		course := `<group><groupType><scheme>x</scheme><typeValue><type>Course</type></typeValue></groupType><description><descShort>Maths</descShort></description></group>`
		class := `<group><groupType><scheme>x</scheme><typeValue><type>Class</type></typeValue></groupType><description><descShort>7a</descShort></description></group>`
		e.post(soap("createGroup", sid("C1")+course)).want(t, "create course", "success", "")
		e.post(soap("createGroup", sid("K1")+class)).want(t, "create class", "success", "")
		e.post(soap("createGroup", sid("K1")+class)).want(t, "create existing", "failure", "idallocinusefail")
		e.post(soap("createPersons", `<personIdPairSet><personIdPair>`+sid("P1")+personXMLIn("A", "B", "")+`</personIdPair><personIdPair>`+sid("P2")+personXMLIn("C", "D", "")+`</personIdPair></personIdPairSet>`)).want(t, "persons", "success", "")
		m := func(id, g, p, role string) string {
			return `<membershipIdPair>` + sid(id) + `<membership><groupSourcedId><identifier>` + g + `</identifier></groupSourcedId><member><memberSourcedId><identifier>` + p +
				`</identifier></memberSourcedId><role><roleType>` + role + `</roleType></role></member></membership></membershipIdPair>`
		}
		a := e.post(soap("createMemberships", `<membershipIdPairSet>`+m("m1", "C1", "P1", "Learner")+m("m2", "K1", "P1", "Learner")+m("m3", "K1", "P2", "Instructor")+m("m4", "NOGROUP", "P2", "Learner")+`</membershipIdPairSet>`))
		if len(a.statuses) != 4 || a.statuses[3].minor != "unknownobject" {
			t.Fatalf("createMemberships: %+v", a.statuses)
		}
		if s := e.status(); s.Memberships.Synced != 3 {
			t.Fatalf("memberships: %+v", s)
		}
		a = e.post(soap("readMembershipsForGroup", `<groupSourcedId><identifier>K1</identifier></groupSourcedId>`))
		if n := len(a.root.Path("Body", "readMembershipsForGroupResponse", "membershipIDPairSet").Children("membershipIdPair")); n != 2 {
			t.Fatalf("readMembershipsForGroup: %s", a.raw)
		}
		// A class deleted goes with its memberships; a course is archived and its memberships kept as manual.
		e.post(soap("deleteGroup", sid("K1"))).want(t, "delete class", "success", "")
		e.post(soap("deleteGroup", sid("C1"))).want(t, "delete course", "success", "")
		s := e.status()
		if s.Groups.Active != 0 || s.Groups.Archived != 1 || s.Memberships.Synced != 0 || s.Memberships.Manual != 1 {
			t.Fatalf("after deleting a class and a course: %+v", s)
		}
		e.post(soap("deleteGroup", sid("K1"))).want(t, "delete of a deleted group", "failure", "unknownobject")

		// deleteGroupRelationship removes one parent and keeps the rest of the group.
		rel := func(p string) string {
			return `<relationship><relation>Parent</relation><sourceId><identifier>` + p + `</identifier></sourceId></relationship>`
		}
		twoParents := strings.Replace(class, "<description>", rel("S1")+rel("S2")+"<description>", 1)
		e.post(soap("createGroup", sid("K2")+twoParents)).want(t, "create with two parents", "success", "")
		e.post(soap("deleteGroupRelationship", sid("K2")+rel("S2"))).want(t, "deleteGroupRelationship", "success", "")
		g := e.post(soap("readGroup", sid("K2"))).root.Path("Body", "readGroupResponse", "group")
		if rs := g.Children("relationship"); len(rs) != 1 || identifier(rs[0].Child("sourceId")) != "S1" || g.Path("description", "descShort").Str() != "7a" {
			t.Fatalf("after deleteGroupRelationship: %+v", g)
		}
		e.post(soap("deleteGroupRelationship", sid("K2")+rel("S2"))).want(t, "deleteGroupRelationship again", "failure", "unknownobject")
		e.post(soap("createGroup", sid("C1")+course)).want(t, "create of an archived course", "failure", "idallocinusefail")
	})
}

// TestTargetIsBusyWhileAnImportHoldsTheLock: a write waits a short while for the tenant's lock,
// then answers targetisbusy and changes nothing; a read is answered.
func TestTargetIsBusyWhileAnImportHoldsTheLock(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open)
		e.h.Service.LockWait = 100 * time.Millisecond
		release, err := e.st.LockTenant(context.Background(), e.tenant.ID, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		e.post(soap("createPerson", sid("P1")+personXMLIn("A", "B", ""))).want(t, "create while locked", "failure", "targetisbusy")
		e.readPerson("P1").want(t, "read while locked", "failure", "unknownobject")
		release()
		if s := e.status(); s.Persons.Active != 0 {
			t.Fatalf("a busy answer applied something: %+v", s)
		}
		e.post(soap("createPerson", sid("P1")+personXMLIn("A", "B", ""))).want(t, "create after the import", "success", "")
		e.post(soap("createByProxyPerson", sid("P1"))).want(t, "an operation imsfeed does not implement", "unsupported", "")
		entries, err := e.st.(store.Live).LiveEntries(context.Background(), store.LiveLogParams{Tenant: e.tenant.ID})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, en := range entries {
			got = append(got, en.Operation+"="+en.CodeMinor)
		}
		want := "createPerson=targetisbusy readPerson=unknownobject createPerson=fullsuccess createByProxyPerson=unsupportedoperation"
		if strings.Join(got, " ") != want {
			t.Fatalf("every request is logged: %v, want %s", got, want)
		}
	})
}

// TestLiveDeletesOverTheLimitAreRefusedWhole: removals within 24 h are checked against the
// tenant's deletes limits; the request is refused whole, and an allowance lets it through.
func TestLiveDeletesOverTheLimitAreRefusedWhole(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open)
		var refusals []bool
		e.h.Service.OnRefusal = func(_ string, r live.Refusal) { refusals = append(refusals, r.First) }
		var pairs, ids strings.Builder
		for i := range 40 {
			k := fmt.Sprintf("P%02d", i)
			pairs.WriteString(`<personIdPair>` + sid(k) + personXMLIn("N", k, "") + `</personIdPair>`)
			if i < 30 {
				ids.WriteString(`<identifier>` + k + `</identifier>`)
			}
		}
		e.post(soap("createPersons", `<personIdPairSet>`+pairs.String()+`</personIdPairSet>`)).want(t, "create 40", "success", "")
		// 30 of 40 in one request: 75% > 10%, and ≥ min_changes 25. An allowance of 6 brings
		// the count under min_changes.
		del := `<sourcedIdSet>` + ids.String() + `</sourcedIdSet>`
		a := e.post(soap("deletePersons", del))
		a.want(t, "deletePersons over the limit", "failure", live.Refused)
		for _, want := range []string{"would remove 30 persons, 0 groups and 0 memberships", "with 0 persons, 0 groups and 0 memberships removed live in the last 24 h and no allowance",
			"persons deletes 75.0% > 10%", "imsfeed es allow --tenant " + e.tenant.ID + " --deletes 6 "} {
			if !strings.Contains(a.statuses[0].desc, want) {
				t.Fatalf("refusal does not say %q: %q", want, a.statuses[0].desc)
			}
		}
		if s := e.status(); s.Persons.Active != 40 {
			t.Fatalf("a refused request applied something: %+v", s)
		}
		e.post(soap("deletePersons", del)).want(t, "again", "failure", live.Refused)
		if len(refusals) != 2 || !refusals[0] || refusals[1] {
			t.Fatalf("refusals (first in window?): %v", refusals)
		}
		// Too small an allowance: refused again, mailed again, with what is still needed.
		if err := e.st.(store.Live).LiveAllow(context.Background(), e.tenant.ID, 5, "ops", "school closed", time.Now()); err != nil {
			t.Fatal(err)
		}
		a = e.post(soap("deletePersons", del))
		a.want(t, "with too small an allowance", "failure", live.Refused)
		if !strings.Contains(a.statuses[0].desc, "an allowance of 5 granted (5 left)") || !strings.Contains(a.statuses[0].desc, "--deletes 1 ") {
			t.Fatalf("refusal after an allowance of 5: %q", a.statuses[0].desc)
		}
		if len(refusals) != 3 || !refusals[2] {
			t.Fatalf("the refusal after too small an allowance is not mailed: %v", refusals)
		}
		log, err := e.st.(store.Live).LiveEntries(context.Background(), store.LiveLogParams{Tenant: e.tenant.ID})
		if err != nil {
			t.Fatal(err)
		}
		if l := log[len(log)-1]; l.Description != a.statuses[0].desc {
			t.Fatalf("es log says %q, the answer %q", l.Description, a.statuses[0].desc)
		}
		if err := e.st.(store.Live).LiveAllow(context.Background(), e.tenant.ID, 1, "ops", "school closed", time.Now()); err != nil {
			t.Fatal(err)
		}
		e.post(soap("deletePersons", del)).want(t, "with the allowance the refusal named", "success", "")
		if s := e.status(); s.Persons.Active != 10 {
			t.Fatalf("after the allowance: %+v", s)
		}
	})
}

// countingStatus is the test's store with its whole-tenant Status counted: the live delete
// limits read it only to word a refusal, or for more removals than they count row by row.
type countingStatus struct {
	store.Store
	store.Live
	calls atomic.Int64
}

func (c *countingStatus) Status(ctx context.Context, tenant string) (store.TenantStatus, error) {
	c.calls.Add(1)
	return c.Store.Status(ctx, tenant)
}

// TestLiveDeletesDoNotCountTheWholeTenant: a removal under min_changes counts nothing of the
// tenant, and one over it counts only the few rows that decide it, however large the tenant
// (whole counts cost a large tenant's deletes a second each); a refusal is worded on the
// whole counts.
func TestLiveDeletesDoNotCountTheWholeTenant(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open)
		spy := &countingStatus{Store: e.st, Live: e.st.(store.Live)}
		e.h.Service.Store = spy
		var pairs strings.Builder
		for i := range 300 {
			k := fmt.Sprintf("P%03d", i)
			pairs.WriteString(`<personIdPair>` + sid(k) + personXMLIn("N", k, "") + `</personIdPair>`)
		}
		e.post(soap("createPersons", `<personIdPairSet>`+pairs.String()+`</personIdPairSet>`)).want(t, "create 300", "success", "")
		del := func(from, to int) answer {
			var ids strings.Builder
			for i := from; i < to; i++ {
				ids.WriteString(`<identifier>` + fmt.Sprintf("P%03d", i) + `</identifier>`)
			}
			return e.post(soap("deletePersons", `<sourcedIdSet>`+ids.String()+`</sourcedIdSet>`))
		}
		del(0, 10).want(t, "10 deletes, under min_changes", "success", "")
		del(10, 26).want(t, "26 in 24 h: over min_changes, 8.7 % of 300", "success", "")
		if n := spy.calls.Load(); n != 0 {
			t.Fatalf("the deletes within the limits counted the whole tenant %d times", n)
		}
		a := del(26, 36)
		a.want(t, "36 in 24 h: 12 % of 300", "failure", live.Refused)
		if !strings.Contains(a.statuses[0].desc, "persons deletes 12.0% > 10%") {
			t.Fatalf("refusal not worded on the whole counts: %q", a.statuses[0].desc)
		}
		if n := spy.calls.Load(); n != 1 {
			t.Fatalf("the refusal counted the whole tenant %d times, want once", n)
		}
		if s := e.status(); s.Persons.Active != 274 {
			t.Fatalf("after the deletes: %+v", s)
		}
	})
}

// TestConcurrentWritesAllApply: concurrent writes of one tenant queue on its lock and each
// applies (the lock is held until the change set is written, not only while it is made).
func TestConcurrentWritesAllApply(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open)
		e.h.Service.LockWait = 30 * time.Second
		var wg sync.WaitGroup
		var mu sync.Mutex
		var bad []statusOf
		for w := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 4 {
					a := e.post(soap("replacePerson", sid(fmt.Sprintf("P%d", i))+personXMLIn("W", fmt.Sprint(w, i), "")))
					if len(a.statuses) == 0 || a.statuses[0].major != "success" {
						mu.Lock()
						bad = append(bad, a.statuses...)
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
		if len(bad) > 0 {
			t.Fatalf("concurrent writes failed: %+v", bad)
		}
		if s := e.status(); s.StateVersion != 24 || s.Persons.Active != 4 {
			t.Fatalf("24 replaces of 4 persons: %+v", s)
		}
	})
}

// TestMembershipOfATrashedPersonSaysWhatTheCallerCanDoOnBothStores: a membership of a person
// in the trash can is refused with what is true for the SIS calling (there is no file): the
// person is in the trash can, since when, and that sending the person again restores them,
// which it does. A membership of an unknown person or group names no file either.
func TestMembershipOfATrashedPersonSaysWhatTheCallerCanDoOnBothStores(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open)
		class := `<group><groupType><scheme>x</scheme><typeValue><type>Class</type></typeValue></groupType><description><descShort>7a</descShort></description></group>`
		e.post(soap("createGroup", sid("K1")+class)).want(t, "create class", "success", "")
		e.post(soap("createPerson", sid("P2")+personXMLIn("Grace", "Hopper", ""))).want(t, "create person", "success", "")
		before := time.Now().UTC().Truncate(time.Second)
		e.post(soap("deletePerson", sid("P2"))).want(t, "trash P2", "success", "")
		after := time.Now().UTC()
		m := func(id, g, p string) string {
			return sid(id) + `<membership><groupSourcedId><identifier>` + g + `</identifier></groupSourcedId><member><memberSourcedId><identifier>` + p +
				`</identifier></memberSourcedId><role><roleType>Learner</roleType></role></member></membership>`
		}
		a := e.post(soap("createMembership", m("m1", "K1", "P2")))
		a.want(t, "membership of a trashed person", "failure", "invaliddata")
		desc := a.statuses[0].desc
		var since time.Time
		if at := regexp.MustCompile(`person "P2" is in the trash can since (\S+Z)\b`).FindStringSubmatch(desc); at != nil {
			since, _ = time.Parse(time.RFC3339, at[1])
		}
		if since.Before(before) || since.After(after) ||
			!strings.Contains(desc, "createPerson or replacePerson") || strings.Contains(strings.ToLower(desc), "file") {
			t.Errorf("membership of a trashed person: %q; want the trash can, since when (%s), what restores the person, and no file", desc, before.Format(time.RFC3339))
		}
		for _, c := range []struct{ what, group, person string }{{"unknown person", "K1", "NOBODY"}, {"unknown group", "NOGROUP", "P2"}} {
			a := e.post(soap("createMembership", m("m2", c.group, c.person)))
			a.want(t, "membership of an "+c.what, "failure", "unknownobject")
			if d := a.statuses[0].desc; strings.Contains(strings.ToLower(d), "file") || !strings.Contains(d, "unknown") {
				t.Errorf("membership of an %s: %q; want it unknown, and no file", c.what, d)
			}
		}
		if s := e.status(); s.Memberships.Synced != 0 || s.Persons.Trashed != 1 {
			t.Errorf("refused memberships changed the state: %+v", s)
		}
		e.post(soap("createPerson", sid("P2")+personXMLIn("Grace", "Hopper", ""))).want(t, "restore P2 as the answer says", "success", "")
		e.post(soap("createMembership", m("m1", "K1", "P2"))).want(t, "membership of the restored person", "success", "")
	})
}
