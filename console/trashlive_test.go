package console_test

import (
	"context"
	"regexp"
	"testing"

	"github.com/imsfeed/imsfeed/live"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/store"
)

// A person a live request trashed was trashed by no run: the trash page's Run column says
// "live" as `imsfeed trash list` does, not an empty cell.
func TestTrashPageNamesTheLiveChannel(t *testing.T) {
	stores(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		w := newWorld(t, st)
		svc, lt := &live.Service{Store: st}, &live.Tenant{ID: w.tenant}
		p := &record.Person{Key: "live-gone", Name: "Grace Hopper"}
		p.ComputeHash()
		for _, req := range []*live.Request{
			{Dialect: "imses1", Operation: "createPerson", Type: record.Persons, Action: live.Create, Items: []live.Item{{Key: p.Key, Person: p}}},
			{Dialect: "imses1", Operation: "deletePerson", Type: record.Persons, Action: live.Delete, Items: []live.Item{{Key: p.Key}}},
		} {
			if res := svc.Do(ctx, lt, req); !res.First().OK() {
				t.Fatalf("%s: %+v", req.Operation, res.First())
			}
		}
		b := w.client()
		b.signIn("kari@example.org", password)
		_, page := b.get("/tenants/" + w.tenant + "/trash?q=live-gone")
		if !regexp.MustCompile(`value="live-gone".*<td>live</td></tr>`).MatchString(section(page, "items")) {
			t.Errorf("the trash page's row of a person a live request trashed names no live request:\n%s", section(page, "items"))
		}
	})
}
