package imses

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/live"
	"github.com/imsfeed/imsfeed/store"
)

// TestPluralReadsAreCapped: a plural read naming more objects than one request may read is
// refused whole with overflowfail (nothing read, one status, logged), as serve cannot hold a
// read of a whole 16 MiB body of identifiers; one of the cap's size is read, and writes are
// bounded by the body size only.
func TestPluralReadsAreCapped(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open)
		ids := func(n int) string {
			var b strings.Builder
			for i := range n {
				fmt.Fprintf(&b, "<identifier>P%d</identifier>", i)
			}
			return "<sourcedIdSet>" + b.String() + "</sourcedIdSet>"
		}

		// The default cap: a read of one more than it is refused before anything is read.
		a := e.post(soap("readPersons", ids(live.MaxReadItems+1)))
		a.want(t, "readPersons over the default cap", "failure", live.Overflow)
		if len(a.statuses) != 1 || !strings.Contains(a.statuses[0].desc, fmt.Sprint(live.MaxReadItems)) {
			t.Fatalf("over the cap: want one status naming the cap, got %d: %+v", len(a.statuses), a.statuses[:min(len(a.statuses), 2)])
		}

		e.h.Service.MaxReadItems = 3
		a = e.post(soap("createPersons", `<personIdPairSet>`+
			`<personIdPair>`+sid("P0")+personXMLIn("Ada", "Lovelace", "")+`</personIdPair>`+
			`<personIdPair>`+sid("P1")+personXMLIn("Edsger", "Dijkstra", "")+`</personIdPair>`+
			`<personIdPair>`+sid("P2")+personXMLIn("Grace", "Hopper", "")+`</personIdPair>`+
			`<personIdPair>`+sid("P3")+personXMLIn("Barbara", "Liskov", "")+`</personIdPair></personIdPairSet>`))
		if len(a.statuses) != 4 || a.statuses[3].major != "success" {
			t.Fatalf("a write of more items than the read cap: %+v", a.statuses)
		}
		a = e.post(soap("readPersons", ids(3)))
		if len(a.statuses) != 3 || a.statuses[2].major != "success" ||
			len(a.root.Path("Body", "readPersonsResponse", "personIdPairSet").Children("personIdPair")) != 3 {
			t.Fatalf("readPersons of the cap's size: %s", a.raw)
		}
		a = e.post(soap("readPersons", ids(4)))
		a.want(t, "readPersons over the cap", "failure", live.Overflow)
		if len(a.statuses) != 1 || !strings.Contains(a.statuses[0].desc, "4") || !strings.Contains(a.statuses[0].desc, "3") {
			t.Fatalf("readPersons over the cap: %+v", a.statuses)
		}
		if set := a.root.Path("Body", "readPersonsResponse", "personIdPairSet"); set != nil && len(set.Children("personIdPair")) > 0 {
			t.Fatalf("readPersons over the cap answered persons: %s", a.raw)
		}
		e.post(soap("readGroups", ids(4))).want(t, "readGroups over the cap", "failure", live.Overflow)
		e.post(soap("readMemberships", ids(4))).want(t, "readMemberships over the cap", "failure", live.Overflow)

		log, err := e.st.(store.Live).LiveEntries(context.Background(), store.LiveLogParams{Tenant: e.tenant.ID})
		if err != nil {
			t.Fatal(err)
		}
		if l := log[len(log)-1]; l.CodeMinor != live.Overflow || l.Operation != "readMemberships" {
			t.Errorf("refused read logged as %s %s/%s %q", l.Operation, l.CodeMajor, l.CodeMinor, l.Description)
		}
	})
}
