package console_test

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/console"
	"github.com/imsfeed/imsfeed/store"
)

// Issue 12: failed sign-ins are counted in the store, so two serve processes behind one load
// balancer (here: two consoles on one store, behind a proxy that names the client in
// X-Forwarded-For) slow the same attacker down: failures spread over both add up. The wait
// grows, ends, is forgotten at a success or an hour after the last failure, and looks the same
// for a name that is no operator's.
func TestSignInSlowDownIsSharedByServeProcesses(t *testing.T) {
	stores(t, func(t *testing.T, st store.Store) {
		w := newWorld(t, st)
		w.cfg.HTTP.Console = &config.Console{TrustedProxies: []string{"127.0.0.1", "::1"}}
		// Names and addresses of this test alone: the store (PostgreSQL) is shared by tests.
		id := rand.Uint32()
		kari, ola := fmt.Sprintf("kari-%08x@example.org", id), fmt.Sprintf("ola-%08x@example.org", id)
		unknown := fmt.Sprintf("kari-%08x@example.com", id)
		w.cfg.Operators = append(w.cfg.Operators,
			config.Operator{Name: fmt.Sprintf("Kari %08x", id), Email: kari, PasswordFile: w.cfg.Operators[0].PasswordFile},
			config.Operator{Name: fmt.Sprintf("Ola %08x", id), Email: ola, PasswordFile: w.cfg.Operators[0].PasswordFile})
		addr := func(n int) string { return fmt.Sprintf("10.%d.%d.%d", byte(id>>16), byte(id>>8), byte(int(id)+n)) }
		attacker, office, home, cafe := addr(0), addr(1), addr(2), addr(3)
		var mu sync.Mutex
		clock := time.Now().UTC()
		now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
		advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
		process := func() *httptest.Server {
			c, err := console.New(console.Params{Config: w.cfg, Store: st, Importer: w.im, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			s := httptest.NewTLSServer(c)
			t.Cleanup(s.Close)
			return s
		}
		a, b := process(), process()
		// signIn signs in on one process as a browser at the client address addr.
		signIn := func(s *httptest.Server, addr, login, pw string) (int, string) {
			t.Helper()
			jar, _ := cookiejar.New(nil)
			c := *s.Client()
			c.Jar = jar
			c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			do := func(req *http.Request) (int, string) {
				req.Header.Set("X-Forwarded-For", "192.0.2.99, "+addr) // the first is what the client claims
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				body, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, string(body)
			}
			req, _ := http.NewRequest("GET", s.URL+"/login", nil)
			_, page := do(req)
			form := url.Values{"csrf": {csrfOf(t, page)}, "login": {login}, "password": {pw}}
			req, _ = http.NewRequest("POST", s.URL+"/login", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return do(req)
		}
		// Three failures for Kari from the attacker, spread over both processes.
		for i, s := range []*httptest.Server{a, b, a} {
			if code, page := signIn(s, attacker, kari, "guess"); code != http.StatusUnauthorized || !strings.Contains(page, "Wrong name or password") {
				t.Fatalf("failure %d: %d", i+1, code)
			}
		}
		// The next attempt waits, on the process that saw one failure of the three, and from
		// another address too (the name is slowed down) — even with the right password.
		code, page := signIn(b, office, kari, password)
		if code != http.StatusTooManyRequests || !strings.Contains(page, "Too many failed sign-ins: try again in 1 second.") {
			t.Fatalf("Kari from the office after three failures spread over two processes: %d\n%s", code, page)
		}
		// Another name from the attacker's address waits too; from a third address it does not.
		if code, _ := signIn(b, attacker, ola, password); code != http.StatusTooManyRequests {
			t.Fatalf("another name from the same address: %d, want 429", code)
		}
		if code, _ := signIn(a, home, ola, password); code != http.StatusSeeOther {
			t.Fatalf("another name from another address: %d, want signed in", code)
		}
		// The wait ends, and each further failure doubles it (1 s, 2 s, 4 s).
		advance(time.Second)
		for _, want := range []string{"2 seconds", "4 seconds"} {
			if code, _ := signIn(a, attacker, kari, "guess"); code != http.StatusUnauthorized {
				t.Fatalf("attempt after the wait: %d, want 401", code)
			}
			if code, page := signIn(b, attacker, kari, "guess"); code != http.StatusTooManyRequests || !strings.Contains(page, "try again in "+want) {
				t.Fatalf("after one more failure: %d, want 429 and %q\n%s", code, want, page)
			}
			advance(5 * time.Second)
		}
		// A name that is no operator's is slowed down exactly alike: the page does not tell.
		for i := 0; i < 3; i++ {
			if code, _ := signIn(b, home, unknown, "guess"); code != http.StatusUnauthorized {
				t.Fatalf("failure %d of an unknown name: %d", i+1, code)
			}
		}
		code, page = signIn(a, office, unknown, password)
		if code != http.StatusTooManyRequests || !strings.Contains(page, "Too many failed sign-ins: try again in 1 second.") {
			t.Fatalf("an unknown name after three failures: %d\n%s", code, page)
		}
		// A success forgets the name's failures: Kari's next mistake is not slowed down.
		advance(time.Minute)
		if code, _ := signIn(b, office, kari, password); code != http.StatusSeeOther {
			t.Fatalf("Kari after the wait: %d, want signed in", code)
		}
		if code, _ := signIn(a, cafe, kari, "typo"); code != http.StatusUnauthorized {
			t.Fatalf("Kari's first mistake after a success: %d, want 401", code)
		}
		if code, _ := signIn(a, cafe, fmt.Sprintf("Kari %08x", id), password); code != http.StatusSeeOther {
			t.Fatalf("Kari's right password after one mistake: %d, want signed in", code)
		}
		// The attacker's address is still slowed down (a success does not clear an address) —
		// until an hour after its last failure.
		for i := 0; i < 3; i++ {
			signIn(a, attacker, "nobody-"+unknown, "guess")
		}
		if code, _ := signIn(a, attacker, "else-"+unknown, "guess"); code != http.StatusTooManyRequests {
			t.Fatalf("the attacker's address after more failures: %d, want 429", code)
		}
		advance(time.Hour + time.Second)
		if code, _ := signIn(b, attacker, ola, password); code != http.StatusSeeOther {
			t.Fatalf("an hour after the last failure: %d, want signed in", code)
		}
	})
}
