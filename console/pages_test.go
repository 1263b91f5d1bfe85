package console_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/importer"
	"github.com/imsfeed/imsfeed/runs"
)

// Issue 12: the tenants page shows a pause; a failed run has its page with the error's line and
// column; and no page needs a script or anything from another host (the console works on a
// network without internet, and without JavaScript).
func TestConsolePagesShowPauseAndFailedRunWithoutScriptsOrOutsideAssets(t *testing.T) {
	w := newWorld(t, sqliteStore(t))
	w.cfg.Tenants[1].Paused = true
	bad := filepath.Join(t.TempDir(), "broken.xml")
	if err := os.WriteFile(bad, []byte("<enterprise>\n  <person><sourcedid><id>P1</id></sourcedid>\n  <oops\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	failed, _ := w.im.ImportFile(context.Background(), &w.cfg.Tenants[1], bad, importer.ImportOptions{})
	if failed == nil || failed.Status != runs.Failed {
		t.Fatalf("a broken file: %+v", failed)
	}
	b := w.client()
	b.signIn("kari@example.org", password)
	_, page := b.get("/")
	south := page[strings.Index(page, "Southside school owner"):]
	if !strings.Contains(south, "paused: tenant is paused (paused: true)") || strings.Contains(page[:strings.Index(page, "Southside school owner")], "paused:") {
		t.Fatalf("the paused tenant's row:\n%s", page)
	}
	code, page := b.get(fmt.Sprintf("/runs/%d", failed.ID))
	if code != http.StatusOK || !strings.Contains(page, `id="status">failed`) || !regexp.MustCompile(`<p class="error">line \d+:\d+: `).MatchString(page) {
		t.Fatalf("the failed run's page (%d):\n%s", code, page)
	}
	outside := regexp.MustCompile(`(?i)<script|\son[a-z]+=|(src|href|action)="(https?:)?//|url\(`)
	for _, p := range []string{"/", fmt.Sprintf("/runs/%d", w.held.ID), fmt.Sprintf("/runs/%d", failed.ID), "/tenants/" + w.tenant,
		"/tenants/" + w.tenant + "/trash", "/tenants/" + w.tenant + "/archive", "/tenants/" + w.tenant + "/live", "/queue",
		"/tenants/" + w.tenant + "/objects?q=a", "/no/such/page"} {
		_, page := b.get(p)
		if m := outside.FindString(page); m != "" {
			t.Errorf("%s has %q: a script or something from another host", p, m)
		}
	}
	_, page = w.client().get("/login")
	if m := outside.FindString(page); m != "" {
		t.Errorf("/login has %q", m)
	}
}
