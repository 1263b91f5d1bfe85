package live

import (
	"context"

	"github.com/imsfeed/imsfeed/hierarchy"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/store"
)

// With school_year.prefix_course_keys a course is stored under "2026-27:MATH5", but the SIS
// knows it as MATH5, live as in its nightly file. A request's group keys are mapped to the
// stored ones before anything is decided, by the nightly import's own mapper (hierarchy.Keys):
// a course the request names with its type gets the year's key, any other key names the year's
// stored course when there is one. Answers name groups by the SIS's keys again, and the
// tenant's mappings are evaluated on the record with the SIS's keys, as the nightly reader
// evaluates them. So a course is one stored course whichever channel brings it, and the next
// night is no remove and add.

// courseKeys maps one request's group keys (see above).
type courseKeys struct {
	year string
	keys *hierarchy.Keys
}

// mapKeys reads what mapping the request's group keys needs and maps them in req; nil when the
// tenant's course keys are not prefixed (or the request names no group).
func (s *Service) mapKeys(ctx context.Context, l store.Live, t *Tenant, req *Request) (*courseKeys, error) {
	if t.Placement == nil || (req.Type == record.Persons && req.Action != ReadForPerson && req.Action != ReadForGroup && req.Action != ChangeIdentifier) {
		return nil, nil
	}
	// Whether keys are prefixed is the tenant's config; the year the store's (a rollover
	// moves it on): read with the configured one first, again when the store has another.
	year := t.Placement("").CourseKeyYear
	if year == "" {
		return nil, nil
	}
	named := namedGroups(req)
	var o *store.LiveObjects
	for {
		q := store.LiveQuery{Groups: make([]string, 0, 2*len(named))}
		for _, k := range named {
			q.Groups = append(q.Groups, k, hierarchy.CourseKey(year, k))
		}
		var err error
		if o, err = l.LiveLoad(ctx, t.ID, q); err != nil {
			return nil, err
		}
		y := t.Placement(o.SchoolYear).CourseKeyYear
		if y == year || y == "" {
			break
		}
		year = y
	}
	c := &courseKeys{year: year, keys: t.Placement(o.SchoolYear).Keys(func(k string) bool { _, ok := o.Groups[k]; return ok })}
	c.request(req)
	return c, nil
}

// namedGroups are the group keys a request names, as the SIS gives them.
func namedGroups(req *Request) []string {
	var out []string
	for _, it := range req.Items {
		if it.Err != nil {
			continue
		}
		switch {
		case req.Action == ReadForGroup || req.Type == record.Groups:
			out = append(out, it.Key)
			if it.Group != nil {
				out = append(out, it.Group.Parents...)
			}
			out = append(out, it.Children...)
		case req.Type == record.Memberships && req.Action != ReadForPerson:
			if k, ok := parseKeyID(it.Key); ok {
				out = append(out, k.Group)
			}
			for _, m := range it.Memberships {
				out = append(out, m.Group)
				if m.MemberType == record.MemberGroup {
					out = append(out, m.Member)
				}
			}
		}
	}
	return uniq(out)
}

// typed reports whether the item's group says what type it is (a create or replace, an update
// carrying the types): then its own key follows from its type, else from what is stored.
func typed(a Action, it *Item) bool {
	return it.Group != nil && !it.Group.Gone() && len(it.Group.Types) > 0 && (a == Create || a == Replace || (a == Update && has(it.Carried, "@types")))
}

// request maps the request's group keys to the stored ones, in place.
func (c *courseKeys) request(req *Request) {
	k := c.keys
	if req.Action == ReadForGroup {
		for i := range req.Items {
			req.Items[i].Key, _ = k.Ref(req.Items[i].Key)
		}
		return
	}
	switch req.Type {
	case record.Groups:
		// The request's own courses first: a group naming one as parent names its stored key.
		for i := range req.Items {
			if it := &req.Items[i]; it.Err == nil && typed(req.Action, it) {
				k.See(it.Group)
			}
		}
		for i := range req.Items {
			it := &req.Items[i]
			if it.Err != nil {
				continue
			}
			if typed(req.Action, it) {
				it.Key = k.Own(it.Group)
			} else {
				it.Key, _ = k.Ref(it.Key)
			}
			if g := it.Group; g != nil {
				changed := g.Key != it.Key
				g.Key = it.Key
				for j, p := range g.Parents {
					if m, _ := k.Ref(p); m != p {
						g.Parents[j], changed = m, true
					}
				}
				if changed {
					g.ComputeHash()
				}
			}
			for j, ch := range it.Children {
				it.Children[j], _ = k.Ref(ch)
			}
		}
	case record.Memberships:
		for i := range req.Items {
			it := &req.Items[i]
			for j := range it.Memberships {
				k.Force(&it.Memberships[j])
			}
		}
	}
}

// keyID is parseKeyID with the group mapped to its stored key: the identifier a membership
// from the nightly file is read by names the SIS's key of its group. (The member is left as
// it is: the identifier does not say whether it is a person.)
func (c *courseKeys) keyID(id string) (record.MembershipKey, bool) {
	k, ok := parseKeyID(id)
	if ok && c != nil {
		k.Group, _ = c.keys.Ref(k.Group)
	}
	return k, ok
}

// sis is the key the SIS knows a stored group by.
func (c *courseKeys) sis(key string) string {
	if c == nil {
		return key
	}
	if k, ok := hierarchy.FileKey(key, c.year); ok {
		return k
	}
	return key
}

func (c *courseKeys) sisAll(keys []string) []string {
	if c == nil || keys == nil {
		return keys
	}
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = c.sis(k)
	}
	return out
}

// answer names the groups of a result by the SIS's keys.
func (c *courseKeys) answer(res *Result) {
	if c == nil || res == nil {
		return
	}
	for i := range res.Groups {
		g := &res.Groups[i]
		g.Key, g.Parents = c.sis(g.Key), c.sisAll(g.Parents)
	}
	for i := range res.Memberships {
		m := &res.Memberships[i]
		if m.ID == KeyID(m.MembershipKey) {
			m.ID = KeyID(record.MembershipKey{Group: c.sis(m.Group), Member: m.Member, Role: m.Role})
		}
		m.Group = c.sis(m.Group)
		if m.MemberType == record.MemberGroup {
			m.Member = c.sis(m.Member)
		}
	}
	if res.Parents != nil {
		ps := make(map[string]store.StoredGroup, len(res.Parents))
		for k, g := range res.Parents {
			g.Key, g.Parents = c.sis(g.Key), c.sisAll(g.Parents)
			ps[c.sis(k)] = g
		}
		res.Parents = ps
	}
	if res.Children != nil {
		ch := make(map[string][]string, len(res.Children))
		for k, v := range res.Children {
			ch[c.sis(k)] = c.sisAll(v)
		}
		res.Children = ch
	}
}
