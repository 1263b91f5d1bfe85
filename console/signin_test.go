package console_test

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

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

// Issue 12: sign-in attempts made at the same moment are counted before their passwords are
// checked, so parallel wrong guesses cannot all pass within one bcrypt time: of 16 at once
// (spread over two serve processes on one store), only the three free ones get a password
// check; the rest wait. The right password of an operator with no failures is not slowed
// down, nor are repeated successes from one address, and a success after the wait clears the
// name.
func TestParallelSignInAttemptsAreSlowedDownToo(t *testing.T) {
	stores(t, func(t *testing.T, st store.Store) {
		w := newWorld(t, st)
		w.cfg.HTTP.Console = &config.Console{TrustedProxies: []string{"127.0.0.1", "::1"}}
		// A slower hash than the world's: before the fix every parallel attempt read the
		// count long before the first check ended and wrote it.
		hash, err := bcrypt.GenerateFromPassword([]byte(password), 8)
		if err != nil {
			t.Fatal(err)
		}
		pw := filepath.Join(t.TempDir(), "slow.bcrypt")
		if err := os.WriteFile(pw, hash, 0o600); err != nil {
			t.Fatal(err)
		}
		id := rand.Uint32() // names and addresses of this test alone: the PostgreSQL store is shared
		kari, ola := fmt.Sprintf("kari-%08x@example.org", id), fmt.Sprintf("ola-%08x@example.org", id)
		w.cfg.Operators = append(w.cfg.Operators,
			config.Operator{Name: fmt.Sprintf("Kari %08x", id), Email: kari, PasswordFile: pw},
			config.Operator{Name: fmt.Sprintf("Ola %08x", id), Email: ola, PasswordFile: pw})
		addr := func(n int) string { return fmt.Sprintf("10.%d.%d.%d", byte(id>>16), byte(id>>8), byte(int(id)+n)) }
		var mu sync.Mutex
		clock := time.Now().UTC()
		now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
		var servers []*httptest.Server
		for range 2 {
			c, err := console.New(console.Params{Config: w.cfg, Store: st, Importer: w.im, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			s := httptest.NewTLSServer(c)
			t.Cleanup(s.Close)
			servers = append(servers, s)
		}
		// form fetches the sign-in form as a browser at addr; post sends it.
		type browser struct {
			c    http.Client
			s    *httptest.Server
			addr string
			csrf string
		}
		do := func(b *browser, req *http.Request) (int, string) {
			req.Header.Set("X-Forwarded-For", b.addr)
			resp, err := b.c.Do(req)
			if err != nil {
				t.Error(err)
				return 0, ""
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(body)
		}
		form := func(s *httptest.Server, addr string) *browser {
			jar, _ := cookiejar.New(nil)
			b := &browser{c: *s.Client(), s: s, addr: addr}
			b.c.Jar = jar
			b.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			req, _ := http.NewRequest("GET", s.URL+"/login", nil)
			_, page := do(b, req)
			b.csrf = csrfOf(t, page)
			return b
		}
		post := func(b *browser, login, pw string) (int, string) {
			f := url.Values{"csrf": {b.csrf}, "login": {login}, "password": {pw}}
			req, _ := http.NewRequest("POST", b.s.URL+"/login", strings.NewReader(f.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return do(b, req)
		}
		const n = 16
		browsers := make([]*browser, n)
		for i := range browsers {
			browsers[i] = form(servers[i%2], addr(i%4)) // four addresses: the name is what is slowed
		}
		start := make(chan struct{})
		codes := make([]int, n)
		var wg sync.WaitGroup
		for i, b := range browsers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				codes[i], _ = post(b, kari, fmt.Sprintf("guess %d", i))
			}()
		}
		close(start)
		wg.Wait()
		count := map[int]int{}
		for _, c := range codes {
			count[c]++
		}
		if count[http.StatusUnauthorized] != 3 || count[http.StatusTooManyRequests] != n-3 {
			t.Fatalf("%d wrong passwords at once: %v (status: how many), want 3 checked (401) and %d refused (429)", n, count, n-3)
		}
		// Another operator with no failures signs in at once, from an address of the burst.
		if code, _ := post(form(servers[0], addr(5)), ola, password); code != http.StatusSeeOther {
			t.Fatalf("another operator's right password: %d, want signed in", code)
		}
		// Successes are no failures: one address signing in again and again is not slowed.
		for i := range 5 {
			if code, _ := post(form(servers[i%2], addr(6)), ola, password); code != http.StatusSeeOther {
				t.Fatalf("sign-in %d from one address: %d, want signed in", i+1, code)
			}
		}
		// After the wait the right password gets through, and clears the name's failures.
		mu.Lock()
		clock = clock.Add(time.Second)
		mu.Unlock()
		if code, _ := post(form(servers[1], addr(7)), kari, password); code != http.StatusSeeOther {
			t.Fatalf("the right password after the wait: %d, want signed in", code)
		}
		if code, _ := post(form(servers[0], addr(7)), kari, "typo"); code != http.StatusUnauthorized {
			t.Fatalf("a mistake after the success: %d, want a password check (401)", code)
		}
	})
}

// Issue 12: an operator's password_file may hold an argon2id hash (here one the argon2 tool
// made); she signs in with her password and not with another. A file holding no hash stops the
// console from starting, and the error does not quote the file.
func TestOperatorWithArgon2idHashSignsIn(t *testing.T) {
	w := newWorld(t, sqliteStore(t))
	pw := filepath.Join(t.TempDir(), "per.argon2id")
	// echo -n "correct horse battery staple" | argon2 imsfeedsalt01 -id -t 2 -m 12 -p 2 -e
	os.WriteFile(pw, []byte("$argon2id$v=19$m=4096,t=2,p=2$aW1zZmVlZHNhbHQwMQ$1lJ/KhF2tUvFlWr58ZxX/UNkMTiE017MC0hQG1uSfIY\n"), 0o600)
	w.cfg.Operators = append(w.cfg.Operators, config.Operator{Name: "Per", Email: "per@example.org", PasswordFile: pw})
	c, err := console.New(console.Params{Config: w.cfg, Store: w.st, Importer: w.im})
	if err != nil {
		t.Fatal(err)
	}
	w.srv = httptest.NewTLSServer(c)
	t.Cleanup(w.srv.Close)
	if code, _ := w.client().signIn("per@example.org", "correct horse battery stapler"); code != http.StatusUnauthorized {
		t.Fatalf("a wrong password: %d, want 401", code)
	}
	if code, _ := w.client().signIn("per@example.org", password); code != http.StatusSeeOther {
		t.Fatalf("the right password: %d, want signed in", code)
	}
	os.WriteFile(pw, []byte("my secret password\n"), 0o600)
	_, err = console.New(console.Params{Config: w.cfg, Store: w.st, Importer: w.im})
	if err == nil || !strings.Contains(err.Error(), "not a bcrypt or argon2id hash") || strings.Contains(err.Error(), "secret") {
		t.Fatalf("a password file holding a clear-text password: %v", err)
	}
}
