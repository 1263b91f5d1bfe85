package imses

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/store"
)

// A request sent again with its message identifier is a repeat (the first answer, nothing
// applied) only while nothing it names has changed since: after another request or a night
// changed what it names it is applied as a request of its own (QA: Banner sends the identifier
// "2" with every request, and a membership refused for a person the SIS had not created yet
// stayed refused for 24 hours; a person created again after a night trashed it stayed in the
// trash, answered success). A client's retry after a request about other objects is still a
// repeat.
func TestResendAfterAChangeToWhatItNamesIsApplied(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open)
		ctx := context.Background()
		id := func(body, id string) string {
			i := strings.Index(body, "<h:messageIdentifier>") + len("<h:messageIdentifier>")
			j := strings.Index(body, "</h:messageIdentifier>")
			return body[:i] + id + body[j:]
		}
		lastLog := func() store.LiveEntry {
			t.Helper()
			l, err := e.st.(store.Live).LiveEntries(ctx, store.LiveLogParams{Tenant: e.tenant.ID, Newest: true, Limit: 1})
			if err != nil || len(l) != 1 {
				t.Fatalf("live log: %v %v", l, err)
			}
			return l[0]
		}
		class := `<group><groupType><scheme>x</scheme><typeValue><type>Class</type></typeValue></groupType><description><descShort>7a</descShort></description></group>`
		e.post(soap("createGroup", sid("K1")+class)).want(t, "create class", "success", "")

		// A membership for a person not created yet, the person, the membership again: all "2".
		join := id(soap("createMembership", sid("m-q")+`<membership><groupSourcedId><identifier>K1</identifier></groupSourcedId><member><memberSourcedId><identifier>NQ</identifier></memberSourcedId>`+
			`<role><roleType>Learner</roleType></role></member></membership>`), "2")
		e.post(join).want(t, "membership of an unknown person", "failure", "unknownobject")
		e.post(id(soap("createPerson", sid("NQ")+personXMLIn("Nora", "Quist", "")), "2")).want(t, "create the person", "success", "")
		e.post(join).want(t, "the membership again, now that the person exists", "success", "")
		if s := e.status(); s.Memberships.Synced != 1 {
			t.Fatalf("the membership sent again was not applied: %+v", s)
		}

		// A create, a delete under another identifier, the create again: applied again.
		create := id(soap("createPerson", sid("RP3")+personXMLIn("Rita", "Pettersen", "")), "X3")
		e.post(create).want(t, "create RP3", "success", "")
		e.post(id(soap("deletePerson", sid("RP3")), "Y3")).want(t, "delete RP3", "success", "")
		e.post(create).want(t, "create RP3 again", "success", "")
		if p := e.readPerson("RP3"); len(p.statuses) == 0 || p.statuses[0].major != "success" || strings.HasPrefix(lastLog().Description, "repeat") {
			t.Fatalf("RP3 created again after its delete: %+v, logged %q", p.statuses, lastLog().Description)
		}

		// A night trashes a person the SIS created; the SIS sends the same create again.
		night := id(soap("createPerson", sid("N1")+personXMLIn("Nils", "Nilsen", "")), "2")
		e.post(night).want(t, "create N1", "success", "")
		v := e.status().StateVersion
		run := &runs.Run{Tenant: e.tenant.ID, Status: runs.Running, Mode: "snapshot", StartedAt: time.Now().UTC()}
		if err := e.st.CreateRun(ctx, run); err != nil {
			t.Fatal(err)
		}
		run.Status = runs.Completed
		plan := &change.Plan{Tenant: e.tenant.ID, Mode: "snapshot", BaseVersion: v, Persons: []change.Person{{Op: change.Delete, Person: record.Person{Key: "N1"}}}}
		if err := e.st.Apply(ctx, store.ApplyParams{Plan: plan, Run: run, Now: time.Now().UTC()}); err != nil {
			t.Fatal(err)
		}
		e.post(night).want(t, "create N1 again after the night trashed it", "success", "")
		if p := e.readPerson("N1"); len(p.statuses) == 0 || p.statuses[0].major != "success" {
			t.Fatalf("N1 sent again after the night trashed it is not active: %+v (logged %q)", p.statuses, lastLog().Description)
		}

		// A client's retry after a request about another person is still a repeat.
		first := id(soap("createPerson", sid("P7")+personXMLIn("Per", "Sju", "")), "R7")
		e.post(first).want(t, "create P7", "success", "")
		applied := lastLog().ID
		e.post(soap("createPerson", sid("P8")+personXMLIn("Åse", "Åtte", ""))).want(t, "create P8", "success", "")
		v = e.status().StateVersion
		e.post(first).want(t, "P7's create sent again", "success", "")
		if got := lastLog().Description; got != fmt.Sprintf("repeat of request %d: nothing applied again", applied) || e.status().StateVersion != v {
			t.Fatalf("a retry after a request about another person: logged %q, state version %d (was %d)", got, e.status().StateVersion, v)
		}
	})
}
