package imses

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/imsfeed/imsfeed/live"
	"github.com/imsfeed/imsfeed/store"
)

// TestRejectedRequestsLeaveATrace: an operator looking for requests an SIS "sends but nothing
// arrives" finds every one. A request whose credentials choose the tenant but which cannot be
// read (not XML, over the size limit) is in the tenant's request log; one that chooses no
// tenant (an unknown username, a wrong password) is a WARN line in serve's log with the
// username as sent, the address and the reason, never the password. All are counted.
func TestRejectedRequestsLeaveATrace(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open)
		var logBuf bytes.Buffer
		var mu sync.Mutex
		var counted []string
		e.h.Service.Log = slog.New(slog.NewTextHandler(&logBuf, nil))
		e.h.Service.OnRequest = func(en *store.LiveEntry) {
			mu.Lock()
			counted = append(counted, en.Operation+en.CodeMinor)
			mu.Unlock()
		}
		e.h.MaxBody = 1 << 20
		create := corpus(t, "001-createPerson.xml")
		basic := func(user, pass string) func(*http.Request) {
			return func(r *http.Request) { r.SetBasicAuth(user, pass) }
		}

		e.post(strings.Replace(create, "dbild-pass&amp;", "dbild-pass&amp;x", 1)).want(t, "wrong password", "failure", live.UnauthorizedRequest)
		e.post(strings.Replace(create, ">dbild-user<", ">sis-typo<", 1)).want(t, "unknown username", "failure", live.UnauthorizedRequest)
		if a := e.post("<not xml", basic(corpusUser, corpusPass)); a.http != 500 || a.fault == "" {
			t.Fatalf("not XML: HTTP %d %s", a.http, a.raw)
		}
		big := strings.Replace(create, "Erika", strings.Repeat("E", 2<<20), 1)
		if a := e.post(big, basic(corpusUser, corpusPass)); a.http != 413 {
			t.Fatalf("too large: HTTP %d %s", a.http, a.raw)
		}
		if a := e.post(big); a.http != 413 {
			t.Fatalf("too large, WS-Security only: HTTP %d %s", a.http, a.raw)
		}
		if a := e.post("<not xml", basic("sis-typo", "secret-typo")); a.http != 500 {
			t.Fatalf("not XML, unknown Basic user: HTTP %d %s", a.http, a.raw)
		}

		// The tenant's log: the two its credentials chose, saying what happened.
		log, err := e.st.(store.Live).LiveEntries(context.Background(), store.LiveLogParams{Tenant: e.tenant.ID})
		if err != nil {
			t.Fatal(err)
		}
		if len(log) != 2 {
			t.Fatalf("tenant's request log has %d entries, want the unreadable and the too large: %+v", len(log), log)
		}
		if l := log[0]; l.CodeMajor != "failure" || l.CodeMinor != live.SOAPFault || !strings.Contains(l.Description, "not well-formed XML") {
			t.Errorf("not XML logged as %s/%s %q", l.CodeMajor, l.CodeMinor, l.Description)
		}
		if l := log[1]; l.CodeMinor != live.TooLarge || !strings.Contains(l.Description, "413") {
			t.Errorf("too large logged as %s/%s %q", l.CodeMajor, l.CodeMinor, l.Description)
		}

		// serve's log: the four that chose no tenant.
		lines := strings.Split(strings.TrimSpace(logBuf.String()), "\n")
		want := []string{
			`username=dbild-user addr=127.0.0.1 code=unauthorizedrequest reason="wrong password"`,
			`username=sis-typo addr=127.0.0.1 code=unauthorizedrequest reason="unknown username"`,
			`username="" addr=127.0.0.1 code=requesttoolarge`, // its credentials are in the body not read
			`username=sis-typo addr=127.0.0.1 code=soapfault`,
		}
		if len(lines) != len(want) {
			t.Fatalf("serve's log has %d lines, want %d:\n%s", len(lines), len(want), logBuf.String())
		}
		for i, w := range want {
			if !strings.Contains(lines[i], "level=WARN") || !strings.Contains(lines[i], w) {
				t.Errorf("serve's log line %d: want WARN with %s, got\n%s", i+1, w, lines[i])
			}
		}
		if strings.Contains(logBuf.String(), "dbild-pass") || strings.Contains(logBuf.String(), "secret-typo") {
			t.Errorf("serve's log shows a password:\n%s", logBuf.String())
		}

		mu.Lock()
		defer mu.Unlock()
		// By outcome; an operation only where the credentials chose a tenant (a stranger's
		// element names would each be a series of /metrics of their own).
		if got := strings.Join(counted, " "); got != "unauthorizedrequest unauthorizedrequest soapfault requesttoolarge requesttoolarge soapfault" {
			t.Errorf("counted for /metrics: %s", got)
		}
	})
}
