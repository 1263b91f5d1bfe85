// Package console is the operator console on the listener of `imsfeed serve`: server-rendered
// pages (no JavaScript, no outside assets) of the tenants, their run history, one run, and a held
// run with its approve and reject forms, an applied run with its undo form. It renders what the importer and the store know and
// decides nothing of its own: approve, reject and undo are the importer's, with the same hash and
// state-version checks and the same mail as the command line.
package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/importer"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/store"
)

// Decider decides held runs and undoes applied ones: *importer.Importer.
type Decider interface {
	Approve(ctx context.Context, d importer.Decision) (*runs.Run, error)
	Reject(ctx context.Context, d importer.Decision) (*runs.Run, error)
	Undo(ctx context.Context, u importer.UndoRequest) (*runs.Run, error)
	// IndexHeld keeps a held run's changes as rows for its page (a hold made before holds kept them).
	IndexHeld(ctx context.Context, id int64) error
	// Operate restores from the trash can or the archive, or purges, as a run in the history.
	Operate(ctx context.Context, req importer.OperatorRequest) (*runs.Run, int, error)
}

// Params are New's arguments; Log and Now are optional.
type Params struct {
	Config   *config.Config
	Store    store.Store
	Importer Decider
	Log      *slog.Logger
	Now      func() time.Time
	// ImportNow, when set (imsfeed serve, with its job queue), puts an import of the tenant's
	// source into the queue now and returns its slot: the console then offers "Import now".
	ImportNow func(ctx context.Context, tenant string) (time.Time, error)
}

// Console is the console's http.Handler.
type Console struct {
	cfg      *config.Config
	store    store.Store
	im       Decider
	log      *slog.Logger
	now      func() time.Time
	ops      []*operator
	dummy    *passwordHash // what an unknown name is checked against (loadOperators)
	key      []byte        // signs CSRF tokens; kept in the store, the same for every process
	sessions store.Sessions
	mux      *http.ServeMux
	tmpl     map[string]*template.Template
	indexing indexing
	zones    sync.Map // a tenant's timezone name: its *time.Location
	// importNow is Params.ImportNow; nil: no "Import now".
	importNow func(ctx context.Context, tenant string) (time.Time, error)
}

//go:embed templates/*.html
var templateFS embed.FS

// New reads the operators' password hashes and returns the console.
func New(p Params) (*Console, error) {
	ops, dummy, err := loadOperators(p.Config.Operators)
	if err != nil {
		return nil, err
	}
	ss, ok := p.Store.(store.Sessions)
	if !ok {
		return nil, fmt.Errorf("console: the store (%T) keeps no sessions", p.Store)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	key, err := ss.ConsoleKey(ctx, "csrf", randomToken())
	if err != nil {
		return nil, err
	}
	c := &Console{cfg: p.Config, store: p.Store, im: p.Importer, log: p.Log, now: p.Now, ops: ops, dummy: dummy,
		key: []byte(key), sessions: ss, importNow: p.ImportNow}
	if c.log == nil {
		c.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.tmpl = map[string]*template.Template{}
	for _, page := range []string{"login", "tenants", "tenant", "run", "queue", "items", "live", "search", "person", "group", "problem"} {
		t, err := template.New("layout.html").Funcs(funcs).Funcs(c.timeFuncs()).ParseFS(templateFS, "templates/layout.html", "templates/"+page+".html")
		if err != nil {
			return nil, fmt.Errorf("console template %s: %w", page, err)
		}
		c.tmpl[page] = t
	}
	m := http.NewServeMux()
	m.HandleFunc("GET /login", c.loginPage)
	m.HandleFunc("POST /login", c.login)
	m.HandleFunc("POST /logout", c.signedInOnly(c.logout))
	m.HandleFunc("GET /{$}", c.signedInOnly(c.tenants))
	m.HandleFunc("GET /tenants/{id}", c.signedInOnly(c.tenant))
	m.HandleFunc("GET /runs/{id}", c.signedInOnly(c.run))
	m.HandleFunc("GET /queue", c.signedInOnly(c.queuePage))
	for kind := range kinds {
		m.HandleFunc("GET /tenants/{id}/"+kind, c.signedInOnly(c.items(kind)))
		m.HandleFunc("POST /tenants/{id}/"+kind+"/restore", c.signedInOnly(c.restore(kind)))
	}
	m.HandleFunc("GET /tenants/{id}/live", c.signedInOnly(c.live))
	m.HandleFunc("GET /tenants/{id}/objects", c.signedInOnly(c.search))
	m.HandleFunc("GET /tenants/{id}/persons/{key...}", c.signedInOnly(c.person))
	m.HandleFunc("GET /tenants/{id}/groups/{key...}", c.signedInOnly(c.group))
	m.HandleFunc("POST /runs/{id}/approve", c.signedInOnly(c.decide("approve")))
	m.HandleFunc("POST /runs/{id}/reject", c.signedInOnly(c.decide("reject")))
	m.HandleFunc("POST /runs/{id}/undo", c.signedInOnly(c.undo))
	m.HandleFunc("POST /tenants/{id}/import", c.signedInOnly(c.importTenant))
	c.mux = m
	return c, nil
}

func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// The pages need nothing from elsewhere and run no script; say so to the browser.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	c.mux.ServeHTTP(w, r)
}

type ctxKey struct{}

type who struct {
	op  *operator
	sid string
}

// signedInOnly sends a visitor without a session to the sign-in page and refuses a POST
// without the session's CSRF token.
func (c *Console) signedInOnly(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		op, sid, err := c.signedIn(r)
		if err != nil {
			c.fail(w, r, "session", err)
			return
		}
		if op == nil {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/login", http.StatusSeeOther)
				return
			}
			c.problem(w, r, http.StatusUnauthorized, "Sign in first.")
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, who{op, sid}))
		if r.Method == http.MethodPost && !c.csrfOK(r, sid) {
			c.log.Warn("console: form without a valid CSRF token refused", "operator", op.Name, "path", r.URL.Path, "from", c.clientIP(r))
			c.problem(w, r, http.StatusForbidden, "This form has expired or did not come from the console; reload the page and try again.")
			return
		}
		next(w, r)
	}
}

func whoOf(r *http.Request) who { return r.Context().Value(ctxKey{}).(who) }

// page is what every template gets.
type page struct {
	Title    string
	Operator *operator
	CSRF     string
	Error    string
	Data     any
}

func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name, title string, data any, errMsg string) {
	p := page{Title: title, Data: data, Error: errMsg}
	if v, ok := r.Context().Value(ctxKey{}).(who); ok {
		p.Operator, p.CSRF = v.op, c.csrfToken(v.sid)
	}
	var b strings.Builder
	if err := c.tmpl[name].Execute(&b, p); err != nil {
		c.log.Error("console: render", "page", name, "err", err)
		http.Error(w, "The page could not be rendered; the log says why.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, b.String())
}

func (c *Console) fail(w http.ResponseWriter, r *http.Request, what string, err error) {
	c.log.Error("console: "+what, "err", err)
	c.problem(w, r, http.StatusInternalServerError, "The store could not be read ("+what+"); the log says why.")
}

// problem answers with a page of the console's own (readable on a phone, unlike a plain-text
// error) saying what went wrong.
func (c *Console) problem(w http.ResponseWriter, r *http.Request, status int, msg string) {
	title := map[int]string{http.StatusNotFound: "Not found", http.StatusForbidden: "Refused",
		http.StatusUnauthorized: "Sign in first", http.StatusBadRequest: "Bad request"}[status]
	if title == "" {
		title = "Something went wrong"
	}
	c.render(w, r, status, "problem", title, msg, "")
}

// notFound is the answer for what does not exist, or belongs to a tenant the operator does
// not see (the same answer: it does not exist for them).
func (c *Console) notFound(w http.ResponseWriter, r *http.Request) {
	c.problem(w, r, http.StatusNotFound, "There is no such page.")
}

// loginPage shows the sign-in form with a fresh double-submit token.
func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	if op, _, _ := c.signedIn(r); op != nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	c.showLogin(w, r, http.StatusOK, "")
}

func (c *Console) showLogin(w http.ResponseWriter, r *http.Request, status int, msg string) {
	tok := randomToken()
	setCookie(w, loginCookie, tok, 3600)
	c.render(w, r, status, "login", "Sign in", struct{ Token string }{tok}, msg)
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	ck, err := r.Cookie(loginCookie)
	if err != nil || r.PostFormValue("csrf") == "" || r.PostFormValue("csrf") != ck.Value {
		c.showLogin(w, r, http.StatusForbidden, "The sign-in form expired; please try again.")
		return
	}
	name := strings.TrimSpace(r.PostFormValue("login"))
	addr := c.clientIP(r)
	nameKey, ipKey := signInKeys(name, addr)
	now := c.now()
	// The attempt is counted as a failure before the password is checked, so parallel
	// attempts each see the ones before them; a success takes it back.
	d, err := c.sessions.ClaimSignIn(r.Context(), []string{nameKey, ipKey}, now, now.Add(-forgetFailures),
		func(f store.SignInFailure) time.Duration { return signInWait(f.Failures, f.Last, now) })
	if err != nil {
		c.fail(w, r, "sign-in failures", err)
		return
	}
	if d > 0 {
		secs := int((d + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		c.log.Warn("console: sign-in refused: too many failures", "from", addr)
		wait := fmt.Sprintf("%d seconds", secs)
		if secs == 1 {
			wait = "1 second"
		}
		c.showLogin(w, r, http.StatusTooManyRequests, "Too many failed sign-ins: try again in "+wait+".")
		return
	}
	op := c.byLogin(name)
	hash := c.dummy
	if op != nil && op.hash != nil {
		hash = op.hash
	}
	if !hash.matches([]byte(r.PostFormValue("password"))) || op == nil || op.hash == nil {
		login := name
		if op == nil {
			login = "(no such operator)" // the text might be a password typed in the wrong field
		}
		c.log.Warn("console: sign-in failed", "login", login, "from", addr)
		c.showLogin(w, r, http.StatusUnauthorized, "Wrong name or password.")
		return
	}
	// A success forgets the name's failures, not the address's (it only takes its own claim
	// back): else an attacker with one account could sign in now and then to keep guessing
	// other names from the same address.
	if err := c.sessions.ClearSignInFailures(r.Context(), []string{nameKey}); err != nil {
		c.fail(w, r, "sign-in failures", err)
		return
	}
	if err := c.sessions.ReleaseSignIn(r.Context(), []string{ipKey}); err != nil {
		c.fail(w, r, "sign-in failures", err)
		return
	}
	setCookie(w, loginCookie, "", -1)
	tok, err := c.createSession(r.Context(), op, now)
	if err != nil {
		c.fail(w, r, "new session", err)
		return
	}
	setCookie(w, sessionCookie, tok, int(sessionTTL.Seconds()))
	c.log.Info("console: signed in", "operator", op.Name, "from", addr)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	if sid := whoOf(r).sid; !strings.HasPrefix(sid, "proxy:") {
		if err := c.sessions.DeleteSession(r.Context(), sessionID(sid)); err != nil {
			c.fail(w, r, "sign-out", err)
			return
		}
	}
	setCookie(w, sessionCookie, "", -1)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// visibleRun loads a run the operator may see; ok false means the answer was written.
func (c *Console) visibleRun(w http.ResponseWriter, r *http.Request) (*runs.Run, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		c.notFound(w, r)
		return nil, false
	}
	run, err := c.store.Run(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !whoOf(r).op.Sees(run.Tenant)) {
		c.notFound(w, r) // a tenant the operator does not see does not exist for them
		return nil, false
	}
	if err != nil {
		c.fail(w, r, "run", err)
		return nil, false
	}
	return run, true
}
