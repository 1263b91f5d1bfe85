package lis

import (
	"fmt"
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/live"
	"github.com/imsfeed/imsfeed/store"
)

// TestPluralReadsAreCapped: a LIS 2.0 plural read naming more objects than one request may
// read is refused with overflowfail, nothing read; one of the cap's size is read.
func TestPluralReadsAreCapped(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open)
		ids := func(n int) string {
			var b strings.Builder
			for i := range n {
				b.WriteString(sid(fmt.Sprintf("P%d", i)))
			}
			return "<sourcedIdSet>" + b.String() + "</sourcedIdSet>"
		}
		a := e.post(lisReq("readPersons", ids(live.MaxReadItems+1)))
		a.want(t, "readPersons over the default cap", "failure", live.Overflow)
		if !strings.Contains(a.desc, fmt.Sprint(live.MaxReadItems)) {
			t.Errorf("the refusal does not name the cap: %q", a.desc)
		}

		e.h.Service.MaxReadItems = 2
		for i, name := range []string{"Ada", "Grace"} {
			e.post(lisReq("createPerson", personRec(fmt.Sprintf("P%d", i), name, "Test", "", ""))).want(t, "createPerson", "success", "fullsuccess")
		}
		a = e.post(lisReq("readPersons", ids(2)))
		a.want(t, "readPersons of the cap's size", "success", "fullsuccess")
		if recs := a.root.Path("Body", "readPersonsResponse", "personRecordSet").Children("personRecord"); len(recs) != 2 {
			t.Fatalf("readPersons of the cap's size: %s", a.raw)
		}
		a = e.post(lisReq("readPersons", ids(3)))
		a.want(t, "readPersons over the cap", "failure", live.Overflow)
		if set := a.root.Path("Body", "readPersonsResponse", "personRecordSet"); set != nil && len(set.Children("personRecord")) > 0 {
			t.Fatalf("readPersons over the cap answered persons: %s", a.raw)
		}
		e.post(lisReq("readGroups", ids(3))).want(t, "readGroups over the cap", "failure", live.Overflow)
		e.post(lisReq("readMemberships", ids(3))).want(t, "readMemberships over the cap", "failure", live.Overflow)
	})
}
