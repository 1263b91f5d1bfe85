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
	// them each failure doubles the wait before the next attempt, up to maxLockout. Failures
	// are forgotten forgetFailures after the last one.
	freeFailures   = 3
	maxLockout     = 5 * time.Minute
	forgetFailures = time.Hour
)

// operator is a configured operator with the password hash read at start-up.
type operator struct {
	*config.Operator
	hash *passwordHash // nil: no password_file (signs in through the proxy only)
}

// loadOperators reads the operators' password hashes, and makes the dummy an unknown name is
// checked against: as costly as the first operator's hash (operators' hashes are usually made
// alike), so that how long a failure takes does not tell whether a name exists.
func loadOperators(ops []config.Operator) ([]*operator, *passwordHash, error) {
	var out []*operator
	var dummy *passwordHash
	for i := range ops {
		o := &operator{Operator: &ops[i]}
		if o.PasswordFile != "" {
			b, err := os.ReadFile(o.PasswordFile)
			if err != nil {
				return nil, nil, fmt.Errorf("operators[%d] (%s): password_file: %w", i, o.Name, err)
			}
			// Never quote the file: it might hold a clear-text password by mistake.
			if o.hash, err = parsePasswordHash(strings.TrimSpace(string(b))); err != nil {
				return nil, nil, fmt.Errorf("operators[%d] (%s): password_file %s: %v (make a bcrypt hash with: htpasswd -nbBC 12 \"\" PASSWORD | cut -c2-, or an argon2id one with: echo -n PASSWORD | argon2 SALT -id -e)", i, o.Name, o.PasswordFile, err)
			}
			if dummy == nil {
				if dummy, err = o.hash.dummy(); err != nil {
					return nil, nil, fmt.Errorf("operators[%d] (%s): %w", i, o.Name, err)
				}
			}
		}
		out = append(out, o)
	}
	if dummy == nil { // nobody signs in with a password: any hash will do
		b, err := bcrypt.GenerateFromPassword([]byte(randomToken()), bcrypt.MinCost)
		if err != nil {
			return nil, nil, err
		}
		dummy = &passwordHash{bcrypt: b}
	}
	return out, dummy, nil
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

// Failed sign-ins are counted in the store (store.Sessions), per login as typed and per client
// address, so that every serve process behind a load balancer slows the same attacker down.
// A login that names no operator counts like one that does, and waits alike: the slow-down
// never tells which names exist. The store gets a hash of each key, never the typed text (a
// password typed into the name field must not be kept readable).

// signInKeys are the store's keys for a sign-in attempt: the login (any case) and the address.
func signInKeys(login, addr string) (name, ip string) {
	h := func(s string) string {
		sum := sha256.Sum256([]byte(s))
		return hex.EncodeToString(sum[:])
	}
	return h("name:" + strings.ToLower(login)), h("ip:" + addr)
}

// signInWait is how long the next attempt must still wait after n failures, the last at last:
// none for the first freeFailures, then 1 s, doubling with each failure up to maxLockout.
func signInWait(n int, last, now time.Time) time.Duration {
	if n < freeFailures {
		return 0
	}
	d := min(time.Second<<min(n-freeFailures, 16), maxLockout)
	return max(last.Add(d).Sub(now), 0)
}

// clientIP is the request's client address: the connection's, or, from a proxy listed in
// http.console.trusted_proxies (a load balancer), the last address its X-Forwarded-For names
// that is not one of the proxies. Without it every client would share the proxy's address,
// and one attacker's failures would slow down every operator.
func (c *Console) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	con := c.consoleCfg()
	if !con.FromProxy(host) {
		return host
	}
	fwd := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(fwd) - 1; i >= 0; i-- {
		a := strings.TrimSpace(fwd[i])
		if net.ParseIP(a) == nil {
			break // not an address: nothing before it can be believed
		}
		if !con.FromProxy(a) {
			return a
		}
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
