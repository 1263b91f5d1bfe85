package console

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/imsfeed/imsfeed/archive"
	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/importer"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/store"
)

func (c *Console) consoleCfg() *config.Console {
	if c.cfg.HTTP == nil {
		return nil
	}
	return c.cfg.HTTP.Console
}

var funcs = template.FuncMap{
	"lower": strings.ToLower,
	"num":   thousands,
	"add":   func(a, b int) int { return a + b },
	"list":  func(s ...string) []string { return s },
	"pct":   func(f float64) string { return fmt.Sprintf("%.0f%%", f) },
	"role":  record.RoleName,
	"ms":    func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/1e6) },
	"secs":  func(d time.Duration) string { return d.Round(time.Second).String() },
	// size is a file's size as the mail writes it: binary units, and the exact bytes.
	"size": runs.SizeWithBytes,
	// obj is the page of a person ("persons") or group ("groups") of a tenant.
	"obj":    objectPath,
	"member": memberPath,
}

// timeFuncs write times in the zone of the tenant they belong to (config `timezone`, as the
// tenant's mail writes them) with the zone's abbreviation, and times of no one tenant (the
// queue's) in UTC: an operator never has to guess the clock, whatever the server's zone.
func (c *Console) timeFuncs() template.FuncMap {
	in := func(t time.Time, tenant string) time.Time { return t.In(c.zone(tenant)) }
	return template.FuncMap{
		// when keeps a date on one line (a narrow column breaks between the date and the
		// hour, not inside "2026-12-01"). t is a time.Time or *time.Time.
		"when": func(t any, tenant string) template.HTML {
			var v time.Time
			switch t := t.(type) {
			case time.Time:
				v = t
			case *time.Time:
				if t != nil {
					v = *t
				}
			default:
				return ""
			}
			if v.IsZero() {
				return "—"
			}
			v = in(v, tenant)
			return template.HTML(`<time datetime="` + v.Format(time.RFC3339) + `"><span class="nw">` + v.Format("2006-01-02") + `</span> ` + v.Format("15:04 MST") + `</time>`)
		},
		// stamp is to the second, for the live requests that come many a minute.
		"stamp": func(t time.Time, tenant string) string { return in(t, tenant).Format(runs.TimeLayout) },
	}
}

// zone is the tenant's time zone (UTC for no tenant of the config's), looked up once a zone name.
func (c *Console) zone(tenant string) *time.Location {
	t, err := c.cfg.Tenant(tenant)
	if err != nil {
		return time.UTC
	}
	if loc, ok := c.zones.Load(t.Timezone); ok {
		return loc.(*time.Location)
	}
	loc := t.Location()
	c.zones.Store(t.Timezone, loc)
	return loc
}

// tenantRow is one tenant on the tenants page.
type tenantRow struct {
	ID, Name   string
	Last       *runs.Run
	LastGood   *runs.Run
	Held       []*runs.Run
	Paused     string // why, when paused now
	LiveToday  int
	LiveFailed int // of LiveToday, answered other than success
	HasLive    bool
}

func (c *Console) tenants(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	op := whoOf(r).op
	now := c.now()
	var rows []tenantRow
	for i := range c.cfg.Tenants {
		t := &c.cfg.Tenants[i]
		if !op.Sees(t.ID) {
			continue
		}
		row := tenantRow{ID: t.ID, Name: t.Name}
		var err error
		if row.Last, err = c.store.LastRun(ctx, t.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			c.fail(w, r, "last run", err)
			return
		}
		if row.LastGood, err = c.store.LastRun(ctx, t.ID, runs.Completed); err != nil && !errors.Is(err, store.ErrNotFound) {
			c.fail(w, r, "last good run", err)
			return
		}
		if row.Held, err = c.store.ListRuns(ctx, store.ListRunsParams{Tenant: t.ID, Status: []runs.Status{runs.Held}}); err != nil {
			c.fail(w, r, "held runs", err)
			return
		}
		if paused, why := t.PausedAt(now); paused {
			row.Paused = why
			if row.Paused == "" {
				row.Paused = "paused"
			}
		}
		if lv, ok := c.store.(store.Live); ok && t.ES != nil {
			y, m, d := now.In(t.Location()).Date()
			midnight := time.Date(y, m, d, 0, 0, 0, 0, t.Location())
			n, failed, err := lv.LiveTally(ctx, t.ID, midnight)
			if err != nil {
				c.fail(w, r, "live request counts", err)
				return
			}
			row.HasLive, row.LiveToday, row.LiveFailed = true, n, failed
		}
		rows = append(rows, row)
	}
	c.render(w, r, http.StatusOK, "tenants", "Tenants", rows, "")
}

func (c *Console) tenant(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	t, err := c.cfg.Tenant(id)
	if err != nil || !whoOf(r).op.Sees(id) {
		c.notFound(w, r)
		return
	}
	list, err := c.store.ListRuns(r.Context(), store.ListRunsParams{Tenant: id, Limit: 200})
	if err != nil {
		c.fail(w, r, "run history", err)
		return
	}
	var requested time.Time
	if s := r.URL.Query().Get("import"); s != "" {
		requested, _ = time.Parse(time.RFC3339, s)
	}
	c.render(w, r, http.StatusOK, "tenant", t.Name+": runs", struct {
		Tenant    *config.Tenant
		Runs      []*runs.Run
		CanImport bool
		Requested time.Time // the slot of an import this operator just asked for
	}{t, list, c.canImport(t), requested}, "")
}

// canImport reports whether the console offers "Import now" for the tenant: serve's queue is
// there, and the tenant has a file to import.
func (c *Console) canImport(t *config.Tenant) bool {
	return c.importNow != nil && t != nil && !t.LiveOnly()
}

// importTenant puts an import of the tenant's source into serve's queue, for the operator who
// needs one now (an approval refused because the state moved, a fixed export): a worker of
// any process takes it as a scheduled slot, and its run appears on the tenant's page.
func (c *Console) importTenant(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	t, err := c.cfg.Tenant(id)
	if err != nil || !whoOf(r).op.Sees(id) {
		c.notFound(w, r)
		return
	}
	if !c.canImport(t) {
		c.problem(w, r, http.StatusConflict, "This console cannot start imports of "+t.Name+": it runs without imsfeed serve's job queue, or the tenant is fed live only.")
		return
	}
	slot, err := c.importNow(r.Context(), t.ID)
	if err != nil {
		c.log.Error("console: import not queued", "tenant", t.ID, "err", err)
		c.problem(w, r, http.StatusInternalServerError, "The import could not be put into the queue; the log says why.")
		return
	}
	c.log.Info("console: import requested", "tenant", t.ID, "slot", slot.Format(time.RFC3339), "operator", whoOf(r).op.Name)
	http.Redirect(w, r, "/tenants/"+url.PathEscape(t.ID)+"?import="+url.QueryEscape(slot.Format(time.RFC3339)), http.StatusSeeOther)
}

// runView is one run's page.
type runView struct {
	Run      *runs.Run
	Tenant   *config.Tenant
	Counts   []countRow
	Removals []archive.GroupRemovals
	More     string // archive.More of the removal rows not shown
	// PlanNote says why the removals and changes could not be shown.
	PlanNote string
	// StateNote says that the state moved since a held plan was made, and what approval does.
	StateNote string
	Reason    string // the reason the operator typed, when the decision was refused
	// Undoable offers the undo form: the run applied changes, is not undone, and its
	// before-images should still be kept (the importer checks again, and says why not).
	Undoable bool
	Cascade  bool // the cascade box was ticked, when the undo was refused
	Changes  *changesView
	// CanImport offers "Import again now" beside a held run's decision (canImport).
	CanImport bool
}

// changesView is one page of a held run's changes, searched and filtered on the server.
type changesView struct {
	Rows          []changeRow
	Q, Type       string
	Page, Pages   int
	Matched, All  int
	First         int // the number of the page's first row
	Prev, Next    string
	FirstP, LastP string
}

type countRow struct {
	Type string
	change.TypeCounts
}

// maxRemovalRows keeps the page short: the groups that lost most come first.
const maxRemovalRows = 30

// changesPerPage is one screen of changes.
const changesPerPage = 50

func (c *Console) run(w http.ResponseWriter, r *http.Request) {
	run, ok := c.visibleRun(w, r)
	if !ok {
		return
	}
	c.showRun(w, r, http.StatusOK, run, "", "")
}

func (c *Console) showRun(w http.ResponseWriter, r *http.Request, status int, run *runs.Run, errMsg, reason string) {
	t, _ := c.cfg.Tenant(run.Tenant)
	name := run.Tenant
	if t != nil {
		name = t.Name
	}
	v := runView{Run: run, Tenant: t, Reason: reason, Counts: []countRow{
		{"persons", run.Counts.Persons}, {"groups", run.Counts.Groups}, {"memberships", run.Counts.Memberships}, {"relations", run.Counts.Relations}}}
	if run.Status == runs.Held {
		v.CanImport = c.canImport(t)
		v.Changes = c.changesPage(r, run, &v)
		// The held plan was made against state version VersionAfter: a hold-removals run
		// applied its other changes first, moving it on by one.
		if now, err := c.store.StateVersion(r.Context(), run.Tenant); err != nil {
			c.log.Error("console: state version", "tenant", run.Tenant, "err", err)
		} else if now != run.VersionAfter && run.Mode == runs.ModeRollover {
			// A rollover archives what is under the old year's node when it is applied.
			v.StateNote = fmt.Sprintf("Nights changed the tenant's state since this rollover was planned (state version %d then, %d now): approval plans the rollover again from the state then.", run.VersionAfter, now)
		} else if now != run.VersionAfter {
			v.StateNote = c.stateNote(r, run, now)
		}
	} else {
		v.Undoable = run.Status == runs.Completed && run.VersionAfter != run.VersionBefore && run.UndoneBy == 0 &&
			t != nil && t.UndoDays > 0 && c.now().Sub(run.StartedAt) <= time.Duration(t.UndoDays)*24*time.Hour
		v.Cascade = r.Method == http.MethodPost && r.PostFormValue("cascade") != ""
	}
	c.render(w, r, status, "run", fmt.Sprintf("%s: run %d", name, run.ID), v, errMsg)
}

// changesPage picks the page of changes the query asks for: ?q= searches keys and names,
// ?type= keeps one record type, ?page= is 1-based (past the end means the last page). The
// store pages and searches; the removals breakdown comes with the page.
func (c *Console) changesPage(r *http.Request, run *runs.Run, rv *runView) *changesView {
	q := r.URL.Query()
	v := &changesView{Q: strings.TrimSpace(q.Get("q")), Type: q.Get("type")}
	hq := store.HeldQuery{AllTypes: true, Search: v.Q, Limit: changesPerPage}
	switch v.Type {
	case "persons", "groups", "memberships":
		for _, t := range record.Types {
			if t.String() == v.Type {
				hq.Type, hq.AllTypes = t, false
			}
		}
	default:
		v.Type = ""
	}
	v.Page, _ = strconv.Atoi(q.Get("page"))
	v.Page = max(v.Page, 1)
	hq.Offset = (v.Page - 1) * changesPerPage
	h, err := c.heldPage(r.Context(), run, hq)
	if err != nil {
		rv.PlanNote = capitalize(err.Error()) + "."
		return nil
	}
	v.All, v.Matched, v.Pages = h.All, h.Matched, max((h.Matched+changesPerPage-1)/changesPerPage, 1)
	if v.Page > v.Pages {
		v.Page = v.Pages
		hq.Offset = (v.Page - 1) * changesPerPage
		if h2, err := c.heldPage(r.Context(), run, hq); err == nil {
			h.Changes = h2.Changes
		}
	}
	rv.Removals = h.Removals
	if len(rv.Removals) > maxRemovalRows {
		rv.More = archive.More(rv.Removals[maxRemovalRows:])
		rv.Removals = rv.Removals[:maxRemovalRows]
	}
	v.Rows, v.First = make([]changeRow, len(h.Changes)), (v.Page-1)*changesPerPage+1
	for i := range h.Changes {
		v.Rows[i] = changeRow{h.Changes[i]}
	}
	link := func(page int) string {
		u := url.Values{}
		if v.Q != "" {
			u.Set("q", v.Q)
		}
		if v.Type != "" {
			u.Set("type", v.Type)
		}
		if page > 1 {
			u.Set("page", strconv.Itoa(page))
		}
		s := fmt.Sprintf("/runs/%d", run.ID)
		if len(u) > 0 {
			s += "?" + u.Encode()
		}
		return s + "#changes"
	}
	if v.Page > 1 {
		v.Prev, v.FirstP = link(v.Page-1), link(1)
	}
	if v.Page < v.Pages {
		v.Next, v.LastP = link(v.Page+1), link(v.Pages)
	}
	return v
}

// stateNote says what approval will do of a held run whose plan was made against another state
// version than now: apply it on top of live requests that touched nothing it changes
// (importer.Approve reads the plan to tell), or refuse when anything else moved the state.
func (c *Console) stateNote(r *http.Request, run *runs.Run, now int64) string {
	changed := fmt.Sprintf("The tenant's state changed since this plan was made (state version %d then, %d now)", run.VersionAfter, now)
	if lv, ok := c.store.(store.Live); ok && now > run.VersionAfter {
		t, err := lv.LiveTouched(r.Context(), run.Tenant, run.StartedAt, run.VersionAfter, now)
		if err == nil {
			n := "1 live request"
			if t.Requests != 1 {
				n = thousands(t.Requests) + " live requests"
			}
			return changed + ", by " + n + ": approval applies the plan on top of them if none of them touched what it changes, and refuses otherwise (then import again)."
		}
		if !errors.Is(err, store.ErrStateChanged) {
			c.log.Error("console: live requests since the plan", "tenant", run.Tenant, "err", err)
		}
	}
	return changed + ": approval will be refused; import again."
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// decide approves or rejects a held run as the signed-in operator, with the reason given.
func (c *Console) decide(verb string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		run, ok := c.visibleRun(w, r)
		if !ok {
			return
		}
		op := whoOf(r).op
		reason := strings.TrimSpace(r.PostFormValue("reason"))
		if reason == "" {
			c.showRun(w, r, http.StatusUnprocessableEntity, run, "Say why: the reason goes into the run record and the status mail.", "")
			return
		}
		d := importer.Decision{RunID: run.ID, By: op.Name, Reason: reason}
		var err error
		if verb == "approve" {
			_, err = c.im.Approve(r.Context(), d)
		} else {
			_, err = c.im.Reject(r.Context(), d)
		}
		if err != nil {
			c.log.Warn("console: "+verb+" refused", "run", run.ID, "operator", op.Name, "err", err)
			if again, rerr := c.store.Run(r.Context(), run.ID); rerr == nil {
				run = again
			}
			c.showRun(w, r, http.StatusConflict, run, err.Error(), reason)
			return
		}
		c.log.Info("console: held run "+verb+"d", "run", run.ID, "tenant", run.Tenant, "operator", op.Name)
		http.Redirect(w, r, fmt.Sprintf("/runs/%d", run.ID), http.StatusSeeOther)
	}
}

// undo undoes an applied run as the signed-in operator, with the reason given (and, when the
// box is ticked, the runs after it first), and shows the undo's own run.
func (c *Console) undo(w http.ResponseWriter, r *http.Request) {
	run, ok := c.visibleRun(w, r)
	if !ok {
		return
	}
	op := whoOf(r).op
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	if reason == "" {
		c.showRun(w, r, http.StatusUnprocessableEntity, run, "Say why: the reason goes into the undo's run record and the status mail.", "")
		return
	}
	u := importer.UndoRequest{RunID: run.ID, By: op.Name, Reason: reason, Cascade: r.PostFormValue("cascade") != ""}
	done, err := c.im.Undo(r.Context(), u)
	if err != nil {
		c.log.Warn("console: undo refused", "run", run.ID, "operator", op.Name, "err", err)
		if again, rerr := c.store.Run(r.Context(), run.ID); rerr == nil {
			run = again
		}
		c.showRun(w, r, http.StatusConflict, run, capitalize(err.Error())+".", reason)
		return
	}
	c.log.Info("console: run undone", "run", run.ID, "undo_run", done.ID, "tenant", run.Tenant, "operator", op.Name, "cascade", u.Cascade)
	http.Redirect(w, r, fmt.Sprintf("/runs/%d", done.ID), http.StatusSeeOther)
}

// thousands writes 500000 as 500,000, as the mail does.
func thousands(n int) string { return runs.Group(int64(n)) }
