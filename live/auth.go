package live

import (
	"crypto/sha256"
	"crypto/subtle"
	"sync"
	"sync/atomic"
	"time"
)

// Credential is the username and password that choose a tenant.
type Credential struct {
	Username string
	Password string
	Tenant   *Tenant
	// Unreadable, when the tenant's password could not be read, says why (the file and the
	// error, never a password): the credential matches nothing and Why says this of its
	// username, so an operator fixes the file rather than the SIS's username.
	Unreadable string
}

// Auth checks credentials in constant time and slows down repeated failures from one address.
// Its credentials may change while it serves (Set); the failures it counts stay.
type Auth struct {
	creds atomic.Pointer[[]cred]

	mu    sync.Mutex
	fails map[string]*failures
	// Now is the clock (tests set it).
	Now func() time.Time
}

type cred struct {
	user, pass [32]byte
	tenant     *Tenant
	unreadable string // matches nothing: Why's reason for the username
}

type failures struct {
	n    int
	last time.Time
}

// NewAuth returns an Auth over the given credentials. A credential with an empty username or
// password, or an Unreadable one, never matches.
func NewAuth(cs []Credential) *Auth {
	a := &Auth{fails: map[string]*failures{}}
	a.Set(cs)
	return a
}

// Set replaces the credentials (a password file re-read) for the requests checked from now on.
// Only the credentials change: the failures counted so far still slow their addresses down, so
// a routine password change does not give a guesser a fresh start.
func (a *Auth) Set(cs []Credential) {
	var creds []cred
	for _, c := range cs {
		switch {
		case c.Username == "":
		case c.Unreadable != "":
			creds = append(creds, cred{user: sha256.Sum256([]byte(c.Username)), unreadable: c.Unreadable})
		case c.Password != "":
			creds = append(creds, cred{sha256.Sum256([]byte(c.Username)), sha256.Sum256([]byte(c.Password)), c.Tenant, ""})
		}
	}
	a.creds.Store(&creds)
}

func (a *Auth) list() []cred {
	if p := a.creds.Load(); p != nil {
		return *p
	}
	return nil
}

// Check returns the tenant of the username and password. Every credential is compared, in
// constant time over digests, so neither the time taken nor the answer tells which part was
// wrong.
func (a *Auth) Check(username, password string) (*Tenant, bool) {
	u, p := sha256.Sum256([]byte(username)), sha256.Sum256([]byte(password))
	var found *Tenant
	for _, c := range a.list() {
		match := subtle.ConstantTimeCompare(u[:], c.user[:]) & subtle.ConstantTimeCompare(p[:], c.pass[:])
		if match == 1 && username != "" && password != "" && c.unreadable == "" {
			found = c.tenant
		}
	}
	return found, found != nil
}

func (a *Auth) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// failWindow is how long an address's failures are remembered.
const failWindow = 15 * time.Minute

// Failed records a failure from addr and returns how long to wait before answering it: nothing
// for the first few, then doubling up to 5 s.
func (a *Auth) Failed(addr string) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	f := a.fails[addr]
	if f == nil || now.Sub(f.last) > failWindow {
		f = &failures{}
		a.fails[addr] = f
	}
	f.n++
	f.last = now
	if len(a.fails) > 10000 { // forget stale addresses now and then
		for k, v := range a.fails {
			if now.Sub(v.last) > failWindow {
				delete(a.fails, k)
			}
		}
	}
	if f.n <= 3 {
		return 0
	}
	d := 250 * time.Millisecond << min(f.n-4, 5)
	return min(d, 5*time.Second)
}

// Succeeded forgets addr's failures.
func (a *Auth) Succeeded(addr string) {
	a.mu.Lock()
	delete(a.fails, addr)
	a.mu.Unlock()
}

// Why says, for serve's log only (never the answer), why username and password chose no
// tenant: no credentials, an unknown username, the tenant's unreadable password (its
// Credential's Unreadable) or a wrong password, or a PasswordDigest token (digest) that
// imsfeed does not check.
func (a *Auth) Why(username, password string, digest bool) string {
	switch {
	case digest:
		return "a WS-Security PasswordDigest token (imsfeed checks only PasswordText or HTTP Basic)"
	case username == "" && password == "":
		return "no credentials (neither WS-Security UsernameToken nor HTTP Basic)"
	case username == "":
		return "no username"
	}
	u := sha256.Sum256([]byte(username))
	known, unreadable := 0, ""
	for _, c := range a.list() {
		match := subtle.ConstantTimeCompare(u[:], c.user[:])
		known |= match
		if match == 1 && c.unreadable != "" {
			unreadable = c.unreadable
		}
	}
	switch {
	case known == 0:
		return "unknown username"
	case unreadable != "":
		return unreadable
	}
	if password == "" {
		return "no password"
	}
	return "wrong password"
}
