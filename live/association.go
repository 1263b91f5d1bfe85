package live

import (
	"context"
	"sort"
	"strings"

	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/store"
)

// An association (LIS 2.0's section association: cross-listed course sections) is a group of
// its own type whose children are the groups it names: each child has it as a parent, the same
// relation a nightly file's <relationship relation="1"> gives. Writing the association sets
// those parent links (a replace also removes them from the groups it no longer names); deleting
// it removes them and deletes the association's group (archives it when the tenant's course
// policy makes its type a course). A child itself, a course section, is never removed.

// AssociationType is the group type associations are stored with (the LIS 2.0 dialect's
// section associations).
const AssociationType = "SectionAssociation"

// loadAssociations adds to o the stored parents of the groups a replace or update of groups
// names, so that keepAssociations can tell the associations among them.
func (s *Service) loadAssociations(ctx context.Context, l store.Live, t *Tenant, req *Request, o *store.LiveObjects) error {
	if req.Type != record.Groups || req.Association != "" || (req.Action != Replace && req.Action != Update) {
		return nil
	}
	var more []string
	for _, it := range req.Items {
		for _, p := range o.Groups[it.Key].Parents {
			if _, read := o.Groups[p]; !read {
				more = append(more, p)
			}
		}
	}
	if len(more) == 0 {
		return nil
	}
	o2, err := l.LiveLoad(ctx, t.ID, store.LiveQuery{Groups: uniq(more)})
	if err != nil {
		return err
	}
	for k, g := range o2.Groups {
		o.Groups[k] = g
	}
	return nil
}

// keepAssociations gives a replaced or updated group back the links to the associations it is a
// child of: the association owns them (a SIS replacing a cross-listed section does not mean to
// undo the cross-listing; deleting or replacing the association does).
func keepAssociations(o *store.LiveObjects, old, g *record.Group) {
	if g == nil {
		return
	}
	changed := false
	for _, p := range old.Parents {
		if a, ok := o.Groups[p]; ok && !a.Archived && hasType(a.Types, AssociationType) && !has(g.Parents, p) && p != g.Key {
			g.Parents = append(append([]string(nil), g.Parents...), p)
			changed = true
		}
	}
	if changed {
		g.ComputeHash()
	}
}

func hasType(types []record.GroupType, typ string) bool {
	for _, t := range types {
		if strings.EqualFold(strings.TrimSpace(t.Value), typ) {
			return true
		}
	}
	return false
}

// childrenOf are the active groups read that have key as a parent, sorted.
func childrenOf(o *store.LiveObjects, key string) []string {
	var out []string
	for k, g := range o.Groups {
		if g.Archived {
			continue
		}
		for _, p := range g.Parents {
			if p == key {
				out = append(out, k)
				break
			}
		}
	}
	sort.Strings(out)
	return out
}

// association decides one write of an association: its group through group(), then the parent
// links of the children it gains and loses. Every named child is checked before anything is
// decided, so a bad item changes nothing.
func (s *Service) association(d groupSink, t *Tenant, o *store.LiveObjects, made *soFar, req *Request, it *Item) Status {
	typ, a := req.Association, req.Action
	stored, exists := made.group(it.Key)
	if exists && !hasType(stored.Types, typ) {
		if a == Delete {
			return fail(UnknownObject, "association %q is unknown (group %q is no %s)", it.Key, it.Key, typ)
		}
		return fail(IDAllocInUse, "group %q exists and is no %s", it.Key, typ)
	}
	if a == Delete && !exists {
		return fail(UnknownObject, "association %q is unknown", it.Key)
	}
	current := childrenOf(o, it.Key)
	want := current
	if a == Delete {
		want = nil
	} else if a != Update || has(it.Carried, "@children") {
		want = uniq(it.Children)
		for _, c := range want {
			g, found := o.Groups[c]
			switch {
			case c == it.Key:
				return fail(InvalidData, "association %q names itself as a member", it.Key)
			case !found:
				return fail(UnknownObject, "association %q: group %q is unknown", it.Key, c)
			case g.Archived:
				return fail(InvalidData, "association %q: group %q is an archived course", it.Key, c)
			}
			for _, p := range parentsOf(it.Group) {
				if p == c {
					return fail(InvalidData, "association %q: group %q is its parent and cannot be its member", it.Key, c)
				}
			}
		}
	}
	if a != Delete && it.Group != nil && !hasType(it.Group.Types, typ) && (a != Update || has(it.Carried, "@types")) {
		return fail(InvalidData, "association %q: the group is not of type %s", it.Key, typ)
	}
	if st := s.group(d, t, o, made, a, it); !st.OK() {
		return st
	}
	in := map[string]bool{}
	for _, c := range want {
		in[c] = true
	}
	had := map[string]bool{}
	for _, c := range current {
		had[c] = true
	}
	relink := func(key string, add bool) *Status {
		g := o.Groups[key].Group
		parents := make([]string, 0, len(g.Parents)+1)
		for _, p := range g.Parents {
			if p != it.Key {
				parents = append(parents, p)
			}
		}
		if add {
			parents = append(parents, it.Key)
		}
		g.Parents = parents
		g.Attrs = append(record.Attrs(nil), g.Attrs...)
		g.ComputeHash()
		if st := t.mapGroup(&g); st != nil {
			return st
		}
		_ = d.Group(&g)
		return nil
	}
	for _, c := range current {
		if !in[c] {
			if st := relink(c, false); st != nil {
				return *st
			}
		}
	}
	for _, c := range want {
		if !had[c] {
			if st := relink(c, true); st != nil {
				return *st
			}
		}
	}
	return ok()
}

// readAssociations answers the reads of associations: Read gives each association with its
// children (Result.Children), ReadParents the associations a group is a child of.
func (s *Service) readAssociations(ctx context.Context, l store.Live, t *Tenant, req *Request) (*Result, error) {
	typ := req.Association
	res := &Result{Statuses: make([]Status, len(req.Items)), Children: map[string][]string{}}
	var q store.LiveQuery
	for _, it := range req.Items {
		if it.Err == nil {
			q.Groups = append(q.Groups, it.Key)
			if req.Action == Read {
				q.ChildrenOf = append(q.ChildrenOf, it.Key)
			}
		}
	}
	o, err := l.LiveLoad(ctx, t.ID, q)
	if err != nil {
		return nil, err
	}
	var parents []string
	for i, it := range req.Items {
		if it.Err != nil {
			res.Statuses[i] = *it.Err
			continue
		}
		g, found := o.Groups[it.Key]
		switch {
		case req.Action == ReadParents && !found:
			res.Statuses[i] = fail(UnknownObject, "group %q is unknown", it.Key)
		case req.Action == ReadParents:
			res.Statuses[i] = ok()
			parents = append(parents, g.Parents...)
		case !found || !hasType(g.Types, typ):
			res.Statuses[i] = fail(UnknownObject, "association %q is unknown", it.Key)
		default:
			res.Statuses[i] = ok()
			res.Groups = append(res.Groups, g)
			res.Children[it.Key] = childrenOf(o, it.Key)
		}
	}
	if len(parents) > 0 {
		o2, err := l.LiveLoad(ctx, t.ID, store.LiveQuery{Groups: uniq(parents)})
		if err != nil {
			return nil, err
		}
		for _, k := range uniq(parents) {
			if g, found := o2.Groups[k]; found && !g.Archived && hasType(g.Types, typ) {
				res.Groups = append(res.Groups, g)
			}
		}
	}
	return res, nil
}

func parentsOf(g *record.Group) []string {
	if g == nil {
		return nil
	}
	return g.Parents
}
