package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/importer"
	"github.com/imsfeed/imsfeed/store"
)

// visibleTenant is the path's tenant when the operator sees it; ok false means the answer
// (404) was written.
func (c *Console) visibleTenant(w http.ResponseWriter, r *http.Request) (*config.Tenant, bool) {
	id := r.PathValue("id")
	t, err := c.cfg.Tenant(id)
	if err != nil || !whoOf(r).op.Sees(id) {
		c.notFound(w, r)
		return nil, false
	}
	return t, true
}

// itemsView is one page of the trash can or the archive, searched and paged in the store.
type itemsView struct {
	Tenant   *config.Tenant
	Kind     string // "trash" or "archive"
	Items    []store.Item
	Restored int
	// Q searches keys and names; Page is 1-based; Matched counts all matching items.
	Q             string
	Page, Pages   int
	Matched       int
	First         int // the number of the page's first item
	Prev, Next    string
	FirstP, LastP string
}

// kinds are the two lists with a restore: the store's functions the CLI's `trash list` and
// `archive list` call (paged and searched in the store). A restore goes through the importer,
// which records it as a run.
var kinds = map[string]struct {
	title  string
	search func(store.Store, context.Context, string, store.ItemQuery) ([]store.Item, int, error)
	from   importer.Objects
}{
	"trash":   {"trash can", store.Store.SearchTrash, importer.Trash},
	"archive": {"archive", store.Store.SearchArchived, importer.Archive},
}

// itemsPerPage is one screen of the trash can or the archive.
const itemsPerPage = 100

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

// showItems shows the page ?q= and ?page= ask for (past the end means the last page); after a
// restore the form's q and page say which.
func (c *Console) showItems(w http.ResponseWriter, r *http.Request, status int, t *config.Tenant, kind string, restored int, msg string) {
	k := kinds[kind]
	v := itemsView{Tenant: t, Kind: kind, Restored: restored, Q: strings.TrimSpace(r.FormValue("q"))}
	v.Page, _ = strconv.Atoi(r.FormValue("page"))
	v.Page = max(v.Page, 1)
	var err error
	v.Items, v.Matched, err = k.search(c.store, r.Context(), t.ID, store.ItemQuery{Search: v.Q, Offset: (v.Page - 1) * itemsPerPage, Limit: itemsPerPage})
	if err == nil {
		v.Pages = max((v.Matched+itemsPerPage-1)/itemsPerPage, 1)
		if v.Page > v.Pages {
			v.Page = v.Pages
			v.Items, v.Matched, err = k.search(c.store, r.Context(), t.ID, store.ItemQuery{Search: v.Q, Offset: (v.Page - 1) * itemsPerPage, Limit: itemsPerPage})
		}
	}
	if err != nil {
		c.fail(w, r, k.title, err)
		return
	}
	v.First = (v.Page-1)*itemsPerPage + 1
	if v.Page > 1 {
		v.Prev, v.FirstP = itemsLink(t.ID, kind, v.Q, v.Page-1), itemsLink(t.ID, kind, v.Q, 1)
	}
	if v.Page < v.Pages {
		v.Next, v.LastP = itemsLink(t.ID, kind, v.Q, v.Page+1), itemsLink(t.ID, kind, v.Q, v.Pages)
	}
	c.render(w, r, status, "items", t.Name+": "+k.title, v, msg)
}

// itemsLink is the address of one page of a search of the trash can or the archive.
func itemsLink(tenant, kind, q string, page int) string {
	u := url.Values{}
	if q != "" {
		u.Set("q", q)
	}
	if page > 1 {
		u.Set("page", strconv.Itoa(page))
	}
	s := "/tenants/" + url.PathEscape(tenant) + "/" + kind
	if len(u) > 0 {
		s += "?" + u.Encode()
	}
	return s
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
			c.problem(w, r, http.StatusBadRequest, "The form could not be read.")
			return
		}
		keys := r.PostForm["key"]
		if len(keys) == 0 {
			c.showItems(w, r, http.StatusUnprocessableEntity, t, kind, 0, "Tick what to restore.")
			return
		}
		op := whoOf(r).op
		run, n, err := c.im.Operate(r.Context(), importer.OperatorRequest{Tenant: t.ID, From: kinds[kind].from, Keys: keys, By: op.Name})
		if errors.Is(err, store.ErrNotFound) {
			c.showItems(w, r, http.StatusConflict, t, kind, 0, err.Error()+" (restored by someone else meanwhile?); nothing was restored.")
			return
		}
		if err != nil {
			c.fail(w, r, kind+" restore", err)
			return
		}
		c.log.Info("console: "+kind+" restore", "tenant", t.ID, "operator", op.Name, "keys", keys, "restored", n, "run", run.ID)
		page, _ := strconv.Atoi(r.PostFormValue("page"))
		back := itemsLink(t.ID, kind, strings.TrimSpace(r.PostFormValue("q")), page)
		sep := "?"
		if strings.Contains(back, "?") {
			sep = "&"
		}
		http.Redirect(w, r, fmt.Sprintf("%s%srestored=%d", back, sep, n), http.StatusSeeOther)
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

// maxLiveRows keeps the page readable: the newest of the window, the hours an operator looks
// into first; `imsfeed es log` shows all.
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
		es, err := lv.LiveEntries(r.Context(), store.LiveLogParams{Tenant: t.ID, Since: v.Since, Limit: maxLiveRows + 1, Newest: true})
		if err != nil {
			c.fail(w, r, "live request log", err)
			return
		}
		v.Entries, v.More = es[max(len(es)-maxLiveRows, 0):], len(es) > maxLiveRows
	}
	c.render(w, r, http.StatusOK, "live", t.Name+": live requests", v, "")
}
