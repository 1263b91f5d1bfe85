package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/imsfeed/imsfeed/archive"
	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/runs"
)

// A held run's page pages and searches its changes on the server. The plan is stored as one
// JSON document (what approval applies, byte for byte), so reading it costs the whole of it:
// for a hold of 500,000 changes, seconds and hundreds of MB. The console therefore reads it
// once per hold into heldChanges (rows ready to show, the removals breakdown) and keeps the
// last few; a view then costs one state-version query and a slice of rows. The tenants page
// starts building the index of each held run it lists, so it is usually ready by the click.

// changeRow is one change as the page shows it.
type changeRow struct {
	Type record.Type
	Op   change.Op
	// Key and Name: the person or group; for a membership its group.
	Key, Name string
	// Member and MemberName, Role: a membership's member and role.
	Member, MemberName, Role string
	Course                   bool
	// Fields: what an update changes, old → new.
	Fields []change.Field
}

// OpText is the op as an operator reads it: an import never deletes a person, it trashes.
func (r *changeRow) OpText() string {
	switch {
	case r.Type == record.Persons && r.Op == change.Delete:
		return "to the trash can"
	case r.Op == change.Manualize:
		return "kept as manual"
	case r.Type == record.Groups && r.Op == change.Archive:
		return "archive"
	}
	return r.Op.String()
}

// TypeText names the row's type in the singular.
func (r *changeRow) TypeText() string {
	return strings.TrimSuffix(r.Type.String(), "s")
}

// matches reports whether the lower-cased query q occurs in the row's keys or names.
func (r *changeRow) matches(q string) bool {
	if containsFold(r.Key, q) || containsFold(r.Name, q) || containsFold(r.Member, q) || containsFold(r.MemberName, q) {
		return true
	}
	for _, f := range r.Fields { // a renamed person is found by the old name too
		if f.Name == "name" && containsFold(f.Old, q) {
			return true
		}
	}
	return false
}

// containsFold reports whether lower (already lower case) occurs in s, ignoring case. ASCII
// text (nearly all keys) is compared in place; only other text is lowered, so a search over
// half a million rows allocates almost nothing.
func containsFold(s, lower string) bool {
	if lower == "" {
		return true
	}
	if len(s) < len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return strings.Contains(strings.ToLower(s), lower)
		}
	}
	n := len(lower)
	first := lower[0]
	for i := 0; i+n <= len(s); i++ {
		if asciiLower(s[i]) != first {
			continue
		}
		j := 1
		for j < n && asciiLower(s[i+j]) == lower[j] {
			j++
		}
		if j == n {
			return true
		}
	}
	return false
}

func asciiLower(b byte) byte {
	if 'A' <= b && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

// heldChanges is one held plan read for the page.
type heldChanges struct {
	sha         string
	baseVersion int64
	rows        []changeRow
	removals    []archive.GroupRemovals
	took        time.Duration // reading and joining, for the log
}

// filter returns the rows of one type (all when typ is "") matching q, a page of them and
// how many matched in all.
func (h *heldChanges) filter(typ, q string, offset, limit int) ([]changeRow, int) {
	q = strings.ToLower(strings.TrimSpace(q))
	want, all := record.Type(0), true
	for _, t := range record.Types {
		if t.String() == typ {
			want, all = t, false
		}
	}
	var page []changeRow
	n := 0
	for i := range h.rows {
		r := &h.rows[i]
		if (!all && r.Type != want) || !r.matches(q) {
			continue
		}
		if n >= offset && len(page) < limit {
			page = append(page, *r)
		}
		n++
	}
	return page, n
}

// readHeld reads a held run's plan and the tenant's state into rows and the removals
// breakdown. The state gives the names of the persons and groups a membership change names
// only by key, and the group sizes of the breakdown.
func (c *Console) readHeld(ctx context.Context, run *runs.Run) (*heldChanges, error) {
	start := time.Now()
	// The plan and the state are read side by side: each takes seconds on a large tenant.
	var (
		st       *change.State
		stateErr error
		stateDur time.Duration
		wg       sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		st, stateErr = c.store.LoadState(ctx, run.Tenant)
		stateDur = time.Since(start)
	}()
	plan, planErr := c.readPlan(ctx, run.ID)
	planDur := time.Since(start)
	wg.Wait()
	if planErr != nil {
		return nil, planErr
	}
	if stateErr != nil {
		c.log.Error("console: load state", "tenant", run.Tenant, "err", stateErr)
		return nil, fmt.Errorf("the tenant's state could not be read; the log says why")
	}
	h := &heldChanges{sha: run.PlanSHA256, baseVersion: plan.BaseVersion, removals: archive.Removals(plan, st)}
	h.rows = make([]changeRow, 0, len(plan.Persons)+len(plan.Groups)+len(plan.Memberships))
	persons := make(map[string]string, len(plan.Persons))
	groups := make(map[string]string, len(plan.Groups))
	for i := range plan.Persons {
		p := &plan.Persons[i]
		r := changeRow{Type: record.Persons, Op: p.Op, Key: p.Person.Key, Name: p.Person.Name}
		if r.Name == "" {
			r.Name = st.PersonName(r.Key)
		}
		if p.Op == change.Update {
			r.Fields = p.Fields(st)
		}
		persons[r.Key] = r.Name
		h.rows = append(h.rows, r)
	}
	for i := range plan.Groups {
		g := &plan.Groups[i]
		r := changeRow{Type: record.Groups, Op: g.Op, Key: g.Group.Key, Name: g.Group.Name, Course: g.Course}
		if r.Name == "" {
			r.Name = st.GroupName(r.Key)
		}
		if g.Op == change.Update {
			r.Fields = g.Fields(st)
		}
		groups[r.Key] = r.Name
		h.rows = append(h.rows, r)
	}
	name := func(inPlan map[string]string, stored func(string) string, key string) string {
		if n := inPlan[key]; n != "" {
			return n
		}
		return stored(key)
	}
	for i := range plan.Memberships {
		m := &plan.Memberships[i].Membership
		r := changeRow{Type: record.Memberships, Op: plan.Memberships[i].Op, Key: m.Group, Name: name(groups, st.GroupName, m.Group),
			Member: m.Member, Role: m.Role}
		if m.MemberType != record.MemberGroup {
			r.MemberName = name(persons, st.PersonName, m.Member)
		}
		if r.MemberName == "" {
			r.MemberName = name(groups, st.GroupName, m.Member)
		}
		h.rows = append(h.rows, r)
	}
	h.took = time.Since(start)
	c.log.Info("console: held run read for paging", "run", run.ID, "changes", len(h.rows), "took", h.took.Round(time.Millisecond),
		"plan", planDur.Round(time.Millisecond), "state", stateDur.Round(time.Millisecond))
	return h, nil
}

// readPlan reads and decodes a held run's stored plan.
func (c *Console) readPlan(ctx context.Context, id int64) (*change.Plan, error) {
	data, err := c.im.PlanBytes(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("the held plan could not be read: %w", err)
	}
	var plan change.Plan
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(&plan); err != nil {
		return nil, fmt.Errorf("the held plan could not be decoded: %w", err)
	}
	return &plan, nil
}

// heldCache keeps the read plans of the last few held runs viewed, and reads each once even
// when several requests ask at the same time.
type heldCache struct {
	mu sync.Mutex
	m  map[int64]*heldEntry
}

type heldEntry struct {
	sha  string
	done chan struct{}
	h    *heldChanges
	err  error
	used time.Time
}

// maxHeldCached bounds the memory: a hold of 500,000 changes is about 100 MB of rows.
const maxHeldCached = 3

// held returns the run's read plan, reading it (once) when needed. The read goes on when the
// request that started it is gone: the next view, or another operator, gets it.
func (c *Console) held(ctx context.Context, run *runs.Run) (*heldChanges, error) {
	e := c.heldEntry(run)
	select {
	case <-e.done:
		return e.h, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// warmHeld starts reading a held run's plan if it is not read yet.
func (c *Console) warmHeld(run *runs.Run) { c.heldEntry(run) }

func (c *Console) heldEntry(run *runs.Run) *heldEntry {
	hc := &c.heldRuns
	hc.mu.Lock()
	defer hc.mu.Unlock()
	now := c.now()
	if e := hc.m[run.ID]; e != nil && e.sha == run.PlanSHA256 {
		e.used = now
		return e
	}
	if hc.m == nil {
		hc.m = map[int64]*heldEntry{}
	}
	e := &heldEntry{sha: run.PlanSHA256, done: make(chan struct{}), used: now}
	hc.m[run.ID] = e
	for len(hc.m) > maxHeldCached { // the least recently used that is not being read goes
		var oldest int64
		for id, x := range hc.m {
			select {
			case <-x.done:
			default:
				continue
			}
			if oldest == 0 || x.used.Before(hc.m[oldest].used) {
				oldest = id
			}
		}
		if oldest == 0 {
			break
		}
		delete(hc.m, oldest)
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		e.h, e.err = c.readHeld(ctx, run)
		close(e.done)
		if e.err != nil { // the next view tries again
			hc.mu.Lock()
			if hc.m[run.ID] == e {
				delete(hc.m, run.ID)
			}
			hc.mu.Unlock()
		}
	}()
	return e
}

// forgetHeld drops a run that is no longer held.
func (c *Console) forgetHeld(id int64) {
	c.heldRuns.mu.Lock()
	delete(c.heldRuns.m, id)
	c.heldRuns.mu.Unlock()
}
