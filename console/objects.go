package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/store"
)

// visibleTenant is the path's tenant when the operator sees it; ok false means the answer
// (404) was written.
func (c *Console) visibleTenant(w http.ResponseWriter, r *http.Request) (*config.Tenant, bool) {
	id := r.PathValue("id")
	t, err := c.cfg.Tenant(id)
	if err != nil || !whoOf(r).op.Sees(id) {
		http.NotFound(w, r)
		return nil, false
	}
	return t, true
}

// itemsView is the trash can's or the archive's page.
type itemsView struct {
	Tenant   *config.Tenant
	Kind     string // "trash" or "archive"
	Items    []store.Item
	Restored int
}

// kinds are the two lists with a restore: the store's functions the CLI's `trash` and
// `archive` commands call.
var kinds = map[string]struct {
	title   string
	list    func(store.Store, context.Context, string) ([]store.Item, error)
	restore func(store.Store, context.Context, string, []string) (int, error)
}{
	"trash":   {"trash can", store.Store.ListTrash, store.Store.RestoreTrash},
	"archive": {"archive", store.Store.ListArchived, store.Store.RestoreArchived},
}

func (c *Console) items(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		t, ok := c.visibleTenant(w, r)
		if !ok {
			return
		}
		n, _ := strconv.Atoi(r.URL.Query().Get("restored"))
		c.showItems(w, r, http.StatusOK, t, kind, n, "")
	}
}

func (c *Console) showItems(w http.ResponseWriter, r *http.Request, status int, t *config.Tenant, kind string, restored int, msg string) {
	k := kinds[kind]
	list, err := k.list(c.store, r.Context(), t.ID)
	if err != nil {
		c.fail(w, k.title, err)
		return
	}
	c.render(w, r, status, "items", t.Name+": "+k.title, itemsView{Tenant: t, Kind: kind, Items: list, Restored: restored}, msg)
}

// restore restores the ticked keys as `imsfeed trash restore` / `archive restore` does, and
// logs it as the signed-in operator's.
func (c *Console) restore(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		t, ok := c.visibleTenant(w, r)
		if !ok {
			return
		}
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		keys := r.PostForm["key"]
		if len(keys) == 0 {
			c.showItems(w, r, http.StatusUnprocessableEntity, t, kind, 0, "Tick what to restore.")
			return
		}
		op := whoOf(r).op
		n, err := kinds[kind].restore(c.store, r.Context(), t.ID, keys)
		if errors.Is(err, store.ErrNotFound) {
			c.showItems(w, r, http.StatusConflict, t, kind, 0, err.Error()+" (restored by someone else meanwhile?); nothing was restored.")
			return
		}
		if err != nil {
			c.fail(w, kind+" restore", err)
			return
		}
		c.log.Info("console: "+kind+" restore", "tenant", t.ID, "operator", op.Name, "keys", keys, "restored", n)
		http.Redirect(w, r, fmt.Sprintf("/tenants/%s/%s?restored=%d", t.ID, kind, n), http.StatusSeeOther)
	}
}

// liveView is the live channel's request log of a tenant.
type liveView struct {
	Tenant  *config.Tenant
	Since   time.Time
	Hours   int
	Entries []store.LiveEntry
	More    bool
}

// maxLiveRows keeps the page readable; `imsfeed es log` shows all.
const maxLiveRows = 1000

// live shows the requests of the last ?hours (default 24), as `imsfeed es log --since 24h`.
func (c *Console) live(w http.ResponseWriter, r *http.Request) {
	t, ok := c.visibleTenant(w, r)
	if !ok {
		return
	}
	hours, err := strconv.Atoi(r.URL.Query().Get("hours"))
	if err != nil || hours <= 0 {
		hours = 24
	}
	v := liveView{Tenant: t, Hours: hours, Since: c.now().Add(-time.Duration(hours) * time.Hour)}
	if lv, ok := c.store.(store.Live); ok {
		es, err := lv.LiveEntries(r.Context(), store.LiveLogParams{Tenant: t.ID, Since: v.Since, Limit: maxLiveRows + 1})
		if err != nil {
			c.fail(w, "live request log", err)
			return
		}
		v.Entries, v.More = es[:min(len(es), maxLiveRows)], len(es) > maxLiveRows
	}
	c.render(w, r, http.StatusOK, "live", t.Name+": live requests", v, "")
}
