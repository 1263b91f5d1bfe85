package console

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/store"
)

const (
	sessionCookie = "imsfeed_session"
	loginCookie   = "imsfeed_login" // the sign-in form's CSRF token (double submit)
	sessionTTL    = 12 * time.Hour
	// freeFailures sign-in failures (per name and per address) are not slowed down; after
	// them each failure doubles the wait before the next attempt, up to maxLockout.
	freeFailures = 3
	maxLockout   = 5 * time.Minute
)

// operator is a configured operator with the password hash read at start-up.
type operator struct {
	*config.Operator
	hash []byte
}

// dummyHash keeps an unknown name as slow as a wrong password, so timing does not tell names.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("imsfeed-no-such-operator"), bcrypt.MinCost)

func loadOperators(ops []config.Operator) ([]*operator, error) {
	var out []*operator
	for i := range ops {
		o := &operator{Operator: &ops[i]}
		if o.PasswordFile != "" {
			b, err := os.ReadFile(o.PasswordFile)
			if err != nil {
				return nil, fmt.Errorf("operators[%d] (%s): password_file: %w", i, o.Name, err)
			}
			o.hash = []byte(strings.TrimSpace(string(b)))
			if _, err := bcrypt.Cost(o.hash); err != nil {
				// Never quote the file: it might hold a clear-text password by mistake.
				return nil, fmt.Errorf("operators[%d] (%s): password_file %s does not hold a bcrypt hash (make one with: htpasswd -nbBC 12 \"\" PASSWORD | cut -c2-)", i, o.Name, o.PasswordFile)
			}
		}
		out = append(out, o)
	}
	return out, nil
}

// byLogin finds an operator by email (any case) or name.
func (c *Console) byLogin(login string) *operator {
	login = strings.TrimSpace(login)
	if login == "" {
		return nil
	}
	for _, o := range c.ops {
		if strings.EqualFold(o.Email, login) || o.Name == login {
			return o
		}
	}
	return nil
}

// Sessions are kept in the store (store.Sessions): a restart of serve signs nobody out, every
// serve process behind one load balancer knows every session, and a sign-out ends it for all.
// The store holds the SHA-256 of the cookie's token, so a copy of the database signs nobody in.
// (Signed cookies with a key from the config would survive restarts too, but could not be
// ended by a sign-out without a shared list of ended sessions: the store is that list anyway.)

// sessionID is what the store knows a session token by.
func sessionID(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// createSession stores a new session of op and returns its token for the cookie.
func (c *Console) createSession(ctx context.Context, op *operator, now time.Time) (string, error) {
	tok := randomToken()
	err := c.sessions.CreateSession(ctx, store.Session{ID: sessionID(tok), Operator: op.Name, Created: now, Expires: now.Add(sessionTTL)})
	return tok, err
}

// byName finds the operator a session belongs to; one removed from the config is signed out.
func (c *Console) byName(name string) *operator {
	for _, o := range c.ops {
		if o.Name == name {
			return o
		}
	}
	return nil
}

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// throttle slows sign-in down after failures, per name and per client address.
type throttle struct {
	mu sync.Mutex
	m  map[string]*failures
}

type failures struct {
	n     int
	until time.Time
}

// wait says how long the keys must still wait before another attempt.
func (t *throttle) wait(now time.Time, keys ...string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	var d time.Duration
	for _, k := range keys {
		if f := t.m[k]; f != nil && f.until.After(now) {
			d = max(d, f.until.Sub(now))
		}
	}
	return d
}

func (t *throttle) fail(now time.Time, keys ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range keys {
		f := t.m[k]
		if f == nil {
			f = &failures{}
			t.m[k] = f
		}
		f.n++
		if f.n >= freeFailures {
			d := time.Second << min(f.n-freeFailures, 16)
			f.until = now.Add(min(d, maxLockout))
		}
	}
}

func (t *throttle) reset(keys ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range keys {
		delete(t.m, k)
	}
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// signedIn returns the request's operator: from a trusted proxy's header, else the session.
// sid is what the CSRF token is bound to; err is the store's, when it could not say.
func (c *Console) signedIn(r *http.Request) (op *operator, sid string, err error) {
	if con := c.consoleCfg(); con != nil && con.TrustedHeader != "" {
		if v := r.Header.Get(con.TrustedHeader); v != "" && con.TrustsProxy(r.RemoteAddr) {
			if op := c.byLogin(v); op != nil {
				return op, "proxy:" + op.Name, nil
			}
			return nil, "", nil
		}
	}
	ck, err := r.Cookie(sessionCookie)
	if err != nil || ck.Value == "" {
		return nil, "", nil
	}
	s, err := c.sessions.Session(r.Context(), sessionID(ck.Value), c.now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	if op := c.byName(s.Operator); op != nil {
		return op, ck.Value, nil
	}
	return nil, "", nil
}

// csrfToken binds a form to the session (or proxy identity) that was shown it.
func (c *Console) csrfToken(sid string) string {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte("csrf\x00" + sid))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (c *Console) csrfOK(r *http.Request, sid string) bool {
	got := r.PostFormValue("csrf")
	return got != "" && hmac.Equal([]byte(got), []byte(c.csrfToken(sid)))
}

func setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
}
