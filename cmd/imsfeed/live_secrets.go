package main

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/live"
)

// liveAuth keeps the live channel's credentials as the tenants' es.password_file say now: a file
// that cannot be read refuses that tenant's requests as unauthorised (an ERROR in the log naming
// the tenant and the file), not the other tenants', and a file whose content changed on disk
// counts from the next request. The files are read at most once a second. A
// re-read changes only the passwords of the one live.Auth: its count of failed attempts stays.
type liveAuth struct {
	log      *slog.Logger
	tenants  []*esTenant
	auth     *live.Auth
	handlers [2]http.Handler // es, lis: over auth

	mu      sync.Mutex // one refresh at a time
	checked atomic.Int64
}

type esTenant struct {
	cfg   *config.Tenant
	live  *live.Tenant // one for the process: the service keys its state by the tenant
	stamp string       // the password file as last read: its content's SHA-256, or the error
	pw    string
	err   error
	// logged is when the unreadable secret was last logged (again every errEvery).
	logged time.Time
}

// errEvery repeats a tenant's unreadable secret in the log while its requests are refused.
const errEvery = 10 * time.Minute

func newLiveAuth(log *slog.Logger, tenants []*esTenant, handlers func(*live.Auth) (es, lis http.Handler)) *liveAuth {
	a := &liveAuth{log: log, tenants: tenants, auth: live.NewAuth(nil)}
	a.handlers[0], a.handlers[1] = handlers(a.auth)
	a.refresh(time.Now(), true)
	return a
}

// es and lis are the two endpoints, each with the current credentials.
func (a *liveAuth) es() http.Handler  { return a.endpoint(0) }
func (a *liveAuth) lis() http.Handler { return a.endpoint(1) }

func (a *liveAuth) endpoint(i int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if now := time.Now(); now.UnixNano()-a.checked.Load() >= int64(time.Second) {
			a.refresh(now, false)
		}
		a.handlers[i].ServeHTTP(w, r)
	})
}

// refresh reads the password files that changed since they were read and, if any did, gives
// the Auth the credentials anew (first: read every one). A request that finds another one
// refreshing goes on with the credentials as they are, not waiting for the files (a few ms for
// a thousand tenants).
func (a *liveAuth) refresh(now time.Time, first bool) {
	if first {
		a.mu.Lock()
	} else if !a.mu.TryLock() {
		return
	}
	defer a.mu.Unlock()
	if !first && now.UnixNano()-a.checked.Load() < int64(time.Second) {
		return
	}
	changed := first
	for _, t := range a.tenants {
		stamp := "env" // $IMSFEED_<TENANT>_ES_PASSWORD: read once, the environment stays
		if f := t.cfg.ES.PasswordFile; f != "" {
			stamp = fileStamp(f)
		}
		if stamp != t.stamp || first {
			wasBad := t.err != nil
			t.stamp, changed = stamp, true
			t.pw, t.err = t.cfg.ESPassword()
			switch {
			case t.err == nil && wasBad:
				a.log.Info("live channel: the tenant's password is read; its requests are taken again", "tenant", t.cfg.ID, "file", t.cfg.ES.PasswordFile)
			case t.err == nil && !first:
				a.log.Info("live channel: the tenant's password file changed; the new password counts", "tenant", t.cfg.ID, "file", t.cfg.ES.PasswordFile)
			case t.err != nil:
				t.logged = time.Time{}
			}
		}
		if t.err != nil && now.Sub(t.logged) >= errEvery {
			// The error names the file and why, never its content.
			a.log.Error("live channel: the tenant's password cannot be read; its live requests are refused as unauthorised", "tenant", t.cfg.ID, "file", t.cfg.ES.PasswordFile, "err", t.err)
			t.logged = now
		}
	}
	a.checked.Store(now.UnixNano())
	if !changed {
		return
	}
	var creds []live.Credential
	for _, t := range a.tenants {
		c := live.Credential{Username: t.cfg.ES.Username, Password: t.pw, Tenant: t.live}
		if t.err != nil {
			c.Password, c.Unreadable = "", t.unreadable()
		}
		creds = append(creds, c)
	}
	a.auth.Set(creds)
}

// fileStamp is what a password file holds now: the SHA-256 of its content (kept, never logged),
// or why it cannot be read. Its size and modification time would miss a rotation to a password
// of the same length by a tool that keeps the time, or within the file system's clock step, and
// the old password would keep working; a password file is a few bytes, read at most once a
// second.
func fileStamp(name string) string {
	b, stamp, _ := readStamped(name)
	clear(b)
	return stamp
}

// readStamped reads a file whose changes are watched: its content, and its stamp (the
// content's SHA-256, or the error's text when it cannot be read).
func readStamped(name string) ([]byte, string, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err.Error(), err
	}
	sum := sha256.Sum256(b)
	return b, string(sum[:]), nil
}

// unreadable is the reason serve's log gives for a request refused with the username of a
// tenant whose password could not be read: the tenant and the file to fix, never its content.
func (t *esTenant) unreadable() string {
	var pe *fs.PathError
	if f := t.cfg.ES.PasswordFile; f != "" && errors.As(t.err, &pe) {
		return fmt.Sprintf("tenant %s's password file %s could not be read: %v", t.cfg.ID, f, pe.Err)
	}
	return t.err.Error() // an empty file, or no file and no environment variable: it says which
}
