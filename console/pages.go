package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
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
	"when": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			if v.IsZero() {
				return "—"
			}
			return v.Local().Format("2006-01-02 15:04")
		case *time.Time:
			if v == nil || v.IsZero() {
				return "—"
			}
			return v.Local().Format("2006-01-02 15:04")
		}
		return ""
	},
	"lower": strings.ToLower,
	"pct":   func(f float64) string { return fmt.Sprintf("%.0f%%", f) },
	"role":  record.RoleName,
	"stamp": func(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05") },
	"ms":    func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/1e6) },
}

// tenantRow is one tenant on the tenants page.
type tenantRow struct {
	ID, Name    string
	Last        *runs.Run
	LastGood    *runs.Run
	Held        []*runs.Run
	Paused      string // why, when paused now
	LiveToday   int
	LiveToday1k bool // more than the count says
	HasLive     bool
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
			c.fail(w, "last run", err)
			return
		}
		if row.LastGood, err = c.store.LastRun(ctx, t.ID, runs.Completed); err != nil && !errors.Is(err, store.ErrNotFound) {
			c.fail(w, "last good run", err)
			return
		}
		if row.Held, err = c.store.ListRuns(ctx, store.ListRunsParams{Tenant: t.ID, Status: []runs.Status{runs.Held}}); err != nil {
			c.fail(w, "held runs", err)
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
			const most = 1000
			es, err := lv.LiveEntries(ctx, store.LiveLogParams{Tenant: t.ID, Since: midnight, Limit: most + 1})
			if err != nil {
				c.fail(w, "live request log", err)
				return
			}
			row.HasLive, row.LiveToday, row.LiveToday1k = true, min(len(es), most), len(es) > most
		}
		rows = append(rows, row)
	}
	c.render(w, r, http.StatusOK, "tenants", "Tenants", rows, "")
}

func (c *Console) tenant(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	t, err := c.cfg.Tenant(id)
	if err != nil || !whoOf(r).op.Sees(id) {
		http.NotFound(w, r)
		return
	}
	list, err := c.store.ListRuns(r.Context(), store.ListRunsParams{Tenant: id, Limit: 200})
	if err != nil {
		c.fail(w, "run history", err)
		return
	}
	c.render(w, r, http.StatusOK, "tenant", t.Name+": runs", struct {
		Tenant *config.Tenant
		Runs   []*runs.Run
	}{t, list}, "")
}

// runView is one run's page.
type runView struct {
	Run      *runs.Run
	Tenant   *config.Tenant
	Counts   []countRow
	Removals []archive.GroupRemovals
	More     int // removal rows not shown
	// PlanNote says why the removals could not be shown, if so.
	PlanNote string
	Reason   string // the reason the operator typed, when the decision was refused
}

type countRow struct {
	Type string
	change.TypeCounts
}

// maxRemovalRows keeps the page short: the groups that lost most come first.
const maxRemovalRows = 30

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
		{"persons", run.Counts.Persons}, {"groups", run.Counts.Groups}, {"memberships", run.Counts.Memberships}}}
	if run.Status == runs.Held {
		v.Removals, v.PlanNote = c.removals(r, run)
		if len(v.Removals) > maxRemovalRows {
			v.More = len(v.Removals) - maxRemovalRows
			v.Removals = v.Removals[:maxRemovalRows]
		}
	}
	c.render(w, r, status, "run", fmt.Sprintf("%s: run %d", name, run.ID), v, errMsg)
}

// removals reads the held plan and the state it was made against.
func (c *Console) removals(r *http.Request, run *runs.Run) ([]archive.GroupRemovals, string) {
	data, err := c.im.PlanBytes(r.Context(), run.ID)
	if err != nil {
		return nil, "The held plan could not be read: " + err.Error()
	}
	var plan change.Plan
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(&plan); err != nil {
		return nil, "The held plan could not be decoded: " + err.Error()
	}
	st, err := c.store.LoadState(r.Context(), run.Tenant)
	if err != nil {
		c.log.Error("console: load state", "tenant", run.Tenant, "err", err)
		return nil, "The tenant's state could not be read; the log says why."
	}
	note := ""
	if st.Version != plan.BaseVersion {
		note = fmt.Sprintf("The tenant's state changed since this plan was made (state version %d then, %d now): approval will be refused; import again.", plan.BaseVersion, st.Version)
	}
	return archive.Removals(&plan, st), note
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
