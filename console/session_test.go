package console_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/console"
	"github.com/imsfeed/imsfeed/store"
)

// Issue 12: a session is kept in the store: it holds on another serve process behind the same
// load balancer (its forms too: the CSRF key is shared), survives a restart, and a sign-out on
// one process ends it on all.
func TestConsoleSessionHoldsAcrossProcessesAndRestartsUntilSignOut(t *testing.T) {
	stores(t, func(t *testing.T, st store.Store) {
		w := newWorld(t, st)
		process := func() *httptest.Server {
			c, err := console.New(console.Params{Config: w.cfg, Store: st, Importer: w.im})
			if err != nil {
				t.Fatal(err)
			}
			s := httptest.NewTLSServer(c)
			t.Cleanup(s.Close)
			return s
		}
		b := w.client()
		if code, _ := b.signIn("kari@example.org", password); code != http.StatusSeeOther {
			t.Fatalf("sign-in: %d", code)
		}
		u, _ := url.Parse(w.srv.URL)
		var cookie string
		for _, c := range b.c.Jar.Cookies(u) {
			if c.Name == "imsfeed_session" {
				cookie = c.Name + "=" + c.Value
			}
		}
		if cookie == "" {
			t.Fatal("no session cookie after sign-in")
		}
		do := func(s *httptest.Server, method, path string, form url.Values) (int, string) {
			t.Helper()
			req, _ := http.NewRequest(method, s.URL+path, strings.NewReader(form.Encode()))
			req.Header.Set("Cookie", cookie)
			if form != nil {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			c := *s.Client()
			c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(body) + resp.Header.Get("Location")
		}
		other := process()     // a second serve process on the same store
		restarted := process() // or the first one after a restart: a new console, a new key in memory
		code, page := do(other, "GET", "/", nil)
		if code != 200 || !strings.Contains(page, "Kari Nordmann") {
			t.Fatalf("the session does not hold on another process: %d\n%s", code, page)
		}
		if code, _ := do(restarted, "GET", "/tenants/"+w.tenant, nil); code != 200 {
			t.Fatalf("the session does not survive a restart: %d", code)
		}
		// Sign out on the other process with the form the first one showed.
		_, first := b.get("/")
		if code, loc := do(other, "POST", "/logout", url.Values{"csrf": {csrfOf(t, first)}}); code != http.StatusSeeOther || !strings.HasSuffix(loc, "/login") {
			t.Fatalf("sign-out on another process with the first one's form: %d %s", code, loc)
		}
		for name, s := range map[string]*httptest.Server{"first": w.srv, "restarted": restarted, "other": other} {
			if code, loc := do(s, "GET", "/", nil); code != http.StatusSeeOther || !strings.HasSuffix(loc, "/login") {
				t.Fatalf("after sign-out the %s process still knows the session: %d %s", name, code, loc)
			}
		}
	})
}
