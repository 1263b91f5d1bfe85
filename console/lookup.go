package console

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/hierarchy"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/store"
)

// One person's and one group's page, and the tenant's search for them: what the store holds
// now, read by index (store.Objects), never the tenant's whole state.

// objectsPerPage is one screen of search hits or members.
const objectsPerPage = 50

// objectPath is the console page of a person ("persons") or group ("groups").
func objectPath(tenant, kind, key string) string {
	return "/tenants/" + url.PathEscape(tenant) + "/" + kind + "/" + url.PathEscape(key)
}

// memberPath is the page of a membership's member: a person or a group.
func memberPath(tenant string, m store.MembershipDetail) string {
	if m.MemberType == record.MemberGroup {
		return objectPath(tenant, "groups", m.Member)
	}
	return objectPath(tenant, "persons", m.Member)
}

// objectsOf is the store's store.Objects; ok false means the answer was written.
func (c *Console) objectsOf(w http.ResponseWriter, r *http.Request) (store.Objects, bool) {
	o, ok := c.store.(store.Objects)
	if !ok {
		c.problem(w, r, http.StatusNotImplemented, fmt.Sprintf("This store (%T) cannot show single objects.", c.store))
	}
	return o, ok
}

// searchView is the tenant's search for persons and groups.
type searchView struct {
	Tenant *config.Tenant
	Q      string
	// Type is "persons" or "groups" on a later page of one of them; "" shows the first page
	// of both.
	Type    string
	After   string
	Persons []store.Object
	Groups  []store.Object
	// MorePersons and MoreGroups link to the next page of each.
	MorePersons, MoreGroups string
}

// search finds persons and groups by part of their key or name: ?q=, and for a next page
// ?type= with ?after= (the last key shown).
func (c *Console) search(w http.ResponseWriter, r *http.Request) {
	t, ok := c.visibleTenant(w, r)
	if !ok {
		return
	}
	o, ok := c.objectsOf(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	v := searchView{Tenant: t, Q: strings.TrimSpace(q.Get("q")), Type: q.Get("type"), After: q.Get("after")}
	if v.Type != "persons" && v.Type != "groups" {
		v.Type, v.After = "", ""
	}
	for _, k := range []struct {
		name string
		typ  record.Type
		hits *[]store.Object
		more *string
	}{{"persons", record.Persons, &v.Persons, &v.MorePersons}, {"groups", record.Groups, &v.Groups, &v.MoreGroups}} {
		if v.Type != "" && v.Type != k.name {
			continue
		}
		hits, err := o.SearchObjects(r.Context(), store.SearchParams{Tenant: t.ID, Type: k.typ, Query: v.Q, After: v.After, Limit: objectsPerPage + 1})
		if err != nil {
			c.fail(w, r, "search", err)
			return
		}
		if len(hits) > objectsPerPage {
			hits = hits[:objectsPerPage]
			u := url.Values{"type": {k.name}, "after": {hits[len(hits)-1].Key}}
			if v.Q != "" {
				u.Set("q", v.Q)
			}
			*k.more = "/tenants/" + url.PathEscape(t.ID) + "/objects?" + u.Encode()
		}
		*k.hits = hits
	}
	title := t.Name + ": persons and groups"
	if v.Q != "" {
		title = fmt.Sprintf("%s: %q", t.Name, v.Q)
	}
	c.render(w, r, http.StatusOK, "search", title, v, "")
}

// personView is one person's page.
type personView struct {
	Tenant  *config.Tenant
	Key     string
	Person  *store.PersonDetail // nil: the tenant has no such person
	UserIDs []userID
	// Relations name the person either way: its record names another, or another's names it.
	Relations []store.Relation
}

func (v personView) Attr(name string) string { return v.Person.Attrs.Get(name) }

// userID is one of a person's user ids; Type is "" for the untyped one.
type userID struct{ ID, Type string }

// PreferredFirst and PreferredLast are the preferred names, stored apart from the name.
func (v personView) PreferredFirst() string { return v.Person.Attrs.Get(record.PreferredFirst) }
func (v personView) PreferredLast() string  { return v.Person.Attrs.Get(record.PreferredLast) }

func (c *Console) person(w http.ResponseWriter, r *http.Request) {
	t, ok := c.visibleTenant(w, r)
	if !ok {
		return
	}
	o, ok := c.objectsOf(w, r)
	if !ok {
		return
	}
	v := personView{Tenant: t, Key: r.PathValue("key")}
	p, err := o.StoredPerson(r.Context(), t.ID, v.Key)
	if errors.Is(err, store.ErrNotFound) {
		c.render(w, r, http.StatusNotFound, "person", t.Name+": no person "+v.Key, v, "")
		return
	}
	if err != nil {
		c.fail(w, r, "person", err)
		return
	}
	v.Person = p
	for _, a := range p.Attrs {
		if typ, ok := strings.CutPrefix(a.Name, "userid"); ok && (typ == "" || typ[0] == '.') {
			v.UserIDs = append(v.UserIDs, userID{ID: a.Value, Type: strings.TrimPrefix(typ, ".")})
		}
	}
	if v.Relations, err = c.store.ListRelations(r.Context(), t.ID, store.ListRelationsParams{Person: p.Key}); err != nil {
		c.fail(w, r, "relations", err)
		return
	}
	title := p.Name
	if title == "" {
		title = p.Key
	}
	c.render(w, r, http.StatusOK, "person", t.Name+": "+title, v, "")
}

// groupView is one group's page.
type groupView struct {
	Tenant  *config.Tenant
	Key     string
	Group   *store.GroupDetail // nil: the tenant has no such group
	Parents []parentRow
	Node    string // what kind of imsfeed's own node the group is; "" for the school owner's
	Members []store.MembershipDetail
	// First is the number of the page's first member; Next links to the next page, FirstP to
	// the first.
	First        int
	Next, FirstP string
}

// parentRow is one parent of a group.
type parentRow struct {
	Key, Name string
	Stored    bool   // the store has the parent
	Node      string // what kind of imsfeed's own node it is, if one
}

func (c *Console) group(w http.ResponseWriter, r *http.Request) {
	t, ok := c.visibleTenant(w, r)
	if !ok {
		return
	}
	o, ok := c.objectsOf(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	v := groupView{Tenant: t, Key: r.PathValue("key")}
	g, err := o.StoredGroup(ctx, t.ID, v.Key)
	if errors.Is(err, store.ErrNotFound) {
		c.render(w, r, http.StatusNotFound, "group", t.Name+": no group "+v.Key, v, "")
		return
	}
	if err != nil {
		c.fail(w, r, "group", err)
		return
	}
	v.Group, v.Node = g, nodeKind(t, &g.Group)
	_, parents, err := c.store.StoredRecords(ctx, t.ID, nil, g.Parents)
	if err != nil {
		c.fail(w, r, "parents", err)
		return
	}
	for _, k := range g.Parents {
		p, stored := parents[k]
		row := parentRow{Key: k, Name: p.Name, Stored: stored}
		if stored {
			row.Node = nodeKind(t, &p)
		} else {
			row.Node = nodeKind(t, &record.Group{Key: k})
		}
		v.Parents = append(v.Parents, row)
	}
	// Members a page at a time: ?member= and ?role= are the last of the previous page; n is
	// the number of its first row, carried for the page's numbering only.
	q := r.URL.Query()
	after := record.MembershipKey{Member: q.Get("member"), Role: q.Get("role")}
	fmt.Sscan(q.Get("n"), &v.First) //nolint:errcheck // a bad number numbers from 1
	if after.Member == "" || v.First < 1 {
		v.First = 1
	}
	if v.Members, err = o.GroupMembers(ctx, store.MembersParams{Tenant: t.ID, Group: g.Key, After: after, Limit: objectsPerPage + 1}); err != nil {
		c.fail(w, r, "members", err)
		return
	}
	base := objectPath(t.ID, "groups", g.Key)
	if len(v.Members) > objectsPerPage {
		v.Members = v.Members[:objectsPerPage]
		last := v.Members[len(v.Members)-1]
		v.Next = base + "?" + url.Values{"member": {last.Member}, "role": {last.Role}, "n": {fmt.Sprint(v.First + objectsPerPage)}}.Encode() + "#members"
	}
	if after.Member != "" {
		v.FirstP = base + "#members"
	}
	title := g.Name
	if title == "" {
		title = g.Key
	}
	c.render(w, r, http.StatusOK, "group", t.Name+": "+title, v, "")
}

// nodeKind says which of imsfeed's own nodes g is (the tenant's hierarchy and course
// settings name them), or "" when it is the school owner's group.
func nodeKind(t *config.Tenant, g *record.Group) string {
	switch {
	case t.Hierarchy.Unplaced != nil && g.Key == t.Hierarchy.Unplaced.Key:
		return "unplaced node"
	case t.Courses.ArchiveNode != nil && g.Key == t.Courses.ArchiveNode.Key:
		return "archive node"
	case g.Source != hierarchy.Source:
		return ""
	case t.SchoolYear != nil && strings.HasPrefix(g.Key, t.SchoolYear.YearNode("").Key):
		return "school-year node"
	case len(t.Hierarchy.Place) > 0:
		return "rule node"
	}
	return "imsfeed's own node" // made under settings since changed
}
