package console_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/live"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/store"
)

// The console's texts read as sentences: "1 request", not "1 requests"; a run's file size is
// not parentheses in parentheses ("(135.1 KiB (138,293 bytes))").
func TestConsoleTextsReadAsSentences(t *testing.T) {
	stores(t, func(t *testing.T, st store.Store) {
		w := newWorld(t, st)
		svc := &live.Service{Store: st}
		svc.Do(context.Background(), &live.Tenant{ID: w.tenant}, &live.Request{Dialect: "imses1", Operation: "readPerson",
			Items: []live.Item{{Key: "nobody"}}})
		w.cfg.Tenants[0].ES = &config.ES{Username: "sis"} // a tenant with a live channel
		b := w.client()
		b.signIn("kari@example.org", password)
		if _, page := b.get("/"); !strings.Contains(page, fmt.Sprintf(`<a href="/tenants/%s/live" class="live-today">1 request</a>`, w.tenant)) {
			t.Errorf("the tenants page does not say \"1 request\":\n%s", page)
		}
		_, page := b.get(fmt.Sprintf("/runs/%d", w.held.ID))
		size := runs.SizeWithBytes(w.held.File.Size)
		if !strings.Contains(page, w.held.File.Name+", "+size+" ·") || regexp.MustCompile(`\([^()]*\([0-9,]+ bytes\)\)`).MatchString(page) {
			t.Errorf("the run page does not write the file as %q:\n%s", w.held.File.Name+", "+size, page)
		}
	})
}
