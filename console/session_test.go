package console_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/config"
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

// Issue 12: behind a signing-in proxy the operator is who the trusted header names, believed
// only from a trusted proxy's address; the decision is recorded as that operator's and its form
// still needs the CSRF token. A session's cookie is Secure, HttpOnly and SameSite=Strict.
func TestConsoleTrustedHeaderOnlyFromProxyAndLockedCookies(t *testing.T) {
	w := newWorld(t, sqliteStore(t))
	get := func(path, user string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", w.srv.URL+path, nil)
		if user != "" {
			req.Header.Set("X-Forwarded-User", user)
		}
		c := *w.srv.Client()
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// Without trusted_header the header is nobody.
	if code, _ := get("/", "kari@example.org"); code != http.StatusSeeOther {
		t.Fatalf("the header without trusted_header: %d, want sent to sign in", code)
	}
	// From an address that is not the proxy's, neither.
	w.cfg.HTTP.Console = &config.Console{TrustedHeader: "X-Forwarded-User", TrustedProxies: []string{"192.0.2.10"}}
	if code, _ := get("/", "kari@example.org"); code != http.StatusSeeOther {
		t.Fatalf("the header from an untrusted address: %d, want sent to sign in", code)
	}
	w.cfg.HTTP.Console.TrustedProxies = []string{"127.0.0.0/8", "::1"}
	if code, _ := get("/", "someone-else@example.org"); code != http.StatusSeeOther {
		t.Fatalf("the header naming no operator: %d, want sent to sign in", code)
	}
	code, page := get(fmt.Sprintf("/runs/%d", w.held.ID), "kari@example.org")
	if code != http.StatusOK || !strings.Contains(page, "Approve and apply as Kari Nordmann") {
		t.Fatalf("the held run from the proxy (%d):\n%s", code, page)
	}
	post := func(form url.Values) int {
		req, _ := http.NewRequest("POST", fmt.Sprintf("%s/runs/%d/approve", w.srv.URL, w.held.ID), strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-User", "kari@example.org")
		c := *w.srv.Client()
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(url.Values{"reason": {"ok"}}); code != http.StatusForbidden {
		t.Fatalf("a proxied POST without the CSRF token: %d, want 403", code)
	}
	if code := post(url.Values{"reason": {"checked with the school"}, "csrf": {csrfOf(t, page)}}); code != http.StatusSeeOther {
		t.Fatalf("a proxied approval: %d", code)
	}
	if r, _ := w.st.Run(context.Background(), w.held.ID); r.Approval == nil || r.Approval.By != "Kari Nordmann" {
		t.Fatalf("the proxied approval is not Kari's: %+v", r.Approval)
	}

	// A password sign-in's cookie.
	b := w.client()
	_, form := b.get("/login")
	resp, err := b.c.PostForm(w.srv.URL+"/login", url.Values{"csrf": {csrfOf(t, form)}, "login": {"ola@example.org"}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var found bool
	for _, ck := range resp.Cookies() {
		if ck.Name == "imsfeed_session" && ck.Value != "" {
			found = true
			if !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" {
				t.Fatalf("the session cookie: %+v", ck)
			}
		}
	}
	if !found {
		t.Fatalf("no session cookie: %v", resp.Header["Set-Cookie"])
	}
}
