package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/imsfeed/imsfeed/samples/feedgen"
)

// An operator whose held night cannot be approved (or whose SIS fixed its export) imports the
// tenant again from the console of a running `imsfeed serve`: "Import now" puts a slot into the
// queue, a worker fetches and imports the source as the schedule would, and the new run
// supersedes the held one, without a shell.
func TestConsoleImportNowRunsTheTenantThroughTheQueue(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sis := filepath.Join(dir, "sis")
	os.MkdirAll(sis, 0o755)
	hash, _ := bcrypt.GenerateFromPassword([]byte("kari-pass"), bcrypt.MinCost)
	os.WriteFile(filepath.Join(dir, "kari.bcrypt"), hash, 0o600)
	cfg := filepath.Join(dir, "imsfeed.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`store: sqlite://%s/state.db
data_dir: %s
http: {listen: "127.0.0.1:0"}
operators:
  - {name: Kari Nordmann, email: kari@example.org, password_file: %s/kari.bcrypt}
tenants:
  - id: north
    schedule: "0 3 1 1 *"
    source: {url: "file://%s", settle: -1s}
`, dir, dir, dir, sis)), 0o644)
	night := func(o feedgen.Options) {
		o.Persons, o.Groups, o.MembersPerGroup, o.Seed = 300, 30, 10, 7
		writeFeedFile(t, sis, "export.xml", o)
	}
	night(feedgen.Options{})
	if r := imsfeed(t, dir, "--config", cfg, "run", "--tenant", "north"); r.code != 0 {
		t.Fatalf("first night: %d %s", r.code, r.stderr)
	}
	night(feedgen.Options{DropPercent: 40})
	if r := imsfeed(t, dir, "--config", cfg, "run", "--tenant", "north"); r.code != 3 {
		t.Fatalf("broken night: exit %d, want 3 (held)\n%s", r.code, r.stderr)
	}
	s := startServe(t, dir, "IMSFEED_CONFIG="+cfg)

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := c.Get(s.url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	post := func(path, page string, form url.Values) (int, string) {
		t.Helper()
		m := csrf.FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no form on the page before POST %s:\n%s", path, page)
		}
		form.Set("csrf", m[1])
		resp, err := c.PostForm(s.url+path, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Location")
	}
	_, page := get("/login")
	if code, _ := post("/login", page, url.Values{"login": {"kari@example.org"}, "password": {"kari-pass"}}); code != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", code)
	}
	_, page = get("/runs/2")
	if !strings.Contains(page, "Import again now") {
		t.Fatalf("the held run's page offers no import:\n%s", page)
	}

	night(feedgen.Options{DropPercent: 2}) // the SIS fixed its export
	code, loc := post("/tenants/north/import", page, url.Values{})
	if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/tenants/north?import=") {
		t.Fatalf("Import now: %d %s\n%s", code, loc, s.stderr.String())
	}
	if _, page = get(loc); !strings.Contains(page, "Import requested for") {
		t.Fatalf("the tenant's page does not say the import was requested:\n%s", page)
	}
	var list []slotRun
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(time.Second) {
		r := imsfeed(t, dir, "--config", cfg, "runs", "--tenant", "north", "--json")
		list = nil
		if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
			t.Fatalf("runs --json: %v %s", err, r.stdout)
		}
		if len(list) == 3 && list[0].Status != "running" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no run of the requested import after 90 s: %+v\n%s", list, s.stderr.String())
		}
	}
	if list[0].Status != "completed" || list[0].Slot.IsZero() || list[1].Status != "superseded" {
		t.Fatalf("after Import now: %+v; want a completed run of a slot, and the held run superseded", list)
	}
	if !strings.Contains(s.stderr.String(), `msg="console: import requested" tenant=north`) || !strings.Contains(s.stderr.String(), `operator="Kari Nordmann"`) {
		t.Errorf("serve's log does not say who requested the import:\n%s", s.stderr.String())
	}
}
