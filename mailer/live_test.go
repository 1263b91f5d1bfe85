package mailer

import (
	"strings"
	"testing"
	"time"

	"github.com/imsfeed/imsfeed/store"
)

// The live section names the dialects the requests came in, and counts a client's retries
// (repeats: answered as their first was, nothing applied) apart, not as successes.
func TestLiveSectionNamesItsDialectAndCountsRepeatsApart(t *testing.T) {
	lisOnly := &store.LiveActivity{Requests: []store.LiveCount{
		{Dialect: "lis2", Operation: "replacePerson", Major: "success", Minor: "fullsuccess", N: 2},
		{Dialect: "lis2", Operation: "replacePerson", Major: "success", Minor: "fullsuccess", Repeat: true, N: 3},
		{Dialect: "lis2", Operation: "readPerson", Major: "failure", Minor: "unknownobject", N: 1},
	}}
	lv := newLiveView(lisOnly, nil)
	if lv.Title != "Live channel (LIS 2.0), every request so far" || lv.Summary != "6 requests, 1 failed, 3 repeats (nothing applied again)." ||
		strings.Join(lv.Requests, "; ") != "replacePerson: 2 success; replacePerson: 3 repeats answered success again, nothing applied; readPerson: 1 failure (unknownobject)" {
		t.Errorf("LIS 2.0 only: %q, %q, %q", lv.Title, lv.Summary, lv.Requests)
	}
	r, err := RenderDigest(Tenant{ID: "east"}, lisOnly, time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.Text, "Live channel (LIS 2.0), every request so far:") || !strings.Contains(r.HTML, "Live channel (LIS 2.0), every request so far:") {
		t.Errorf("digest lacks the section's title:\n%s", r.Text)
	}

	both := &store.LiveActivity{Requests: []store.LiveCount{
		{Dialect: "imses1", Operation: "createPerson", Major: "success", Minor: "fullsuccess", N: 1},
		{Dialect: "lis2", Operation: "createPerson", Major: "success", Minor: "fullsuccess", N: 1},
	}}
	lv = newLiveView(both, nil)
	if lv.Title != "Live channel (IMS ES 1.0 and LIS 2.0), every request so far" ||
		strings.Join(lv.Requests, "; ") != "createPerson (IMS ES 1.0): 1 success; createPerson (LIS 2.0): 1 success" {
		t.Errorf("both dialects: %q, %q", lv.Title, lv.Requests)
	}
}
