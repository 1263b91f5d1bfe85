package live

import (
	"context"
	"slices"

	"github.com/imsfeed/imsfeed/hierarchy"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/store"
)

// A live group is placed by the tenant's hierarchy rules exactly as the nightly import places
// the same group of a file (hierarchy.Place, the one placer): a course goes under the current
// school year's node, a group with no parent that no group names under its rule's node or the
// unplaced node, and imsfeed's own nodes are created when missing. So the same group sent live
// and then found in the next nightly file has the same parents and hash: no update.

// groupSink takes the groups a request decides (the diff, or heldGroups to place them first).
type groupSink interface {
	Group(g *record.Group) error
}

// heldGroups holds a request's groups until they are placed.
type heldGroups []*record.Group

func (h *heldGroups) Group(g *record.Group) error { *h = append(*h, g); return nil }

// place sets the parents of the request's groups by the tenant's rules and returns them with
// the nodes they go under (and the archive node), having read what placing needs into o.
func (s *Service) place(ctx context.Context, l store.Live, t *Tenant, req *Request, o *store.LiveObjects, groups heldGroups) (heldGroups, error) {
	if t.Placement == nil {
		return groups, nil
	}
	rules := t.Placement(o.SchoolYear)
	if rules.Empty() {
		return groups, nil
	}
	var active []*record.Group
	for _, g := range groups {
		if !g.Gone() {
			active = append(active, g)
		}
	}
	// First what decides a placement: the fixed nodes, the parents an update keeps, and the
	// stored groups that name a parentless group as their parent (a root then, not placed).
	var q store.LiveQuery
	for _, n := range []*hierarchy.Node{rules.Unplaced, rules.Year, rules.Archive} {
		if n != nil {
			q.Groups = append(q.Groups, n.Key)
		}
	}
	for _, g := range active {
		q.Groups = append(q.Groups, g.Parents...)
		if len(g.Parents) == 0 && !g.SelfParent {
			q.ChildrenOf = append(q.ChildrenOf, g.Key)
		}
	}
	if err := s.readMore(ctx, l, t, o, q); err != nil {
		return nil, err
	}
	// An update that does not carry the parents keeps the stored ones, placement's among them:
	// those are taken off and the group placed again, as the file's form of it has none.
	if req.Action == Update {
		kept := map[string]bool{}
		for _, it := range req.Items {
			kept[it.Key] = !has(it.Carried, "@parents")
		}
		for _, g := range active {
			if !kept[g.Key] {
				continue
			}
			g.Parents = slices.DeleteFunc(slices.Clone(g.Parents), func(p string) bool { return imsfeedNode(o, rules, p) })
		}
	}
	// A stored group under the unplaced node that a request's group now names as its parent
	// is a root, as the nightly import finds it: it leaves the unplaced node.
	inRequest := map[string]bool{}
	for _, g := range groups {
		inRequest[g.Key] = true
	}
	if rules.Unplaced != nil {
		for _, g := range active {
			for _, p := range g.Parents {
				sp, ok := o.Groups[p]
				if !ok || inRequest[p] || sp.Archived || !slices.Equal(sp.Parents, []string{rules.Unplaced.Key}) {
					continue
				}
				root := sp.Group
				root.Parents = nil
				root.ComputeHash()
				inRequest[p] = true
				groups = append(groups, &root)
			}
		}
	}
	rules.StoredParents = map[string]bool{}
	for _, k := range q.ChildrenOf {
		if len(childrenOf(o, k)) > 0 {
			rules.StoredParents[k] = true
		}
	}
	active = active[:0]
	for _, g := range groups {
		if !g.Gone() {
			active = append(active, g)
		}
	}
	// The stored groups with the keys of the nodes the rules build: a group of the SIS is the
	// node (a request never changes what it does not name), an archived course none can be.
	if err := s.readMore(ctx, l, t, o, store.LiveQuery{Groups: hierarchy.RuleKeys(active, rules)}); err != nil {
		return nil, err
	}
	rules.Stored = func(key string) hierarchy.Held {
		g, ok := o.Groups[key]
		return hierarchy.StoredHeld(ok, g.Archived, g.Source == hierarchy.Source, false) // a request is no snapshot
	}
	res, err := hierarchy.Place(active, rules)
	if err != nil {
		return nil, err // a *hierarchy.ClashError: write refuses the request whole
	}
	// The nodes a rule built from the groups' attributes: read those not read yet, so that the
	// diff creates only the missing ones.
	var more store.LiveQuery
	for _, n := range res.Nodes {
		if _, ok := o.Groups[n.Key]; !ok {
			more.Groups = append(more.Groups, n.Key)
		}
	}
	if err := s.readMore(ctx, l, t, o, more); err != nil {
		return nil, err
	}
	return append(groups, res.Nodes...), nil
}

// imsfeedNode reports whether key is one of the nodes placement puts groups under.
func imsfeedNode(o *store.LiveObjects, r hierarchy.Rules, key string) bool {
	if (r.Unplaced != nil && key == r.Unplaced.Key) || (r.Year != nil && key == r.Year.Key) {
		return true
	}
	g, ok := o.Groups[key]
	return ok && g.Source == hierarchy.Source && slices.ContainsFunc(g.Types, func(t record.GroupType) bool { return t.Value == hierarchy.NodeType })
}

// readMore reads the groups q names into o (under the tenant's lock, the state is the same).
func (s *Service) readMore(ctx context.Context, l store.Live, t *Tenant, o *store.LiveObjects, q store.LiveQuery) error {
	if len(q.Groups) == 0 && len(q.ChildrenOf) == 0 {
		return nil
	}
	more, err := l.LiveLoad(ctx, t.ID, q)
	if err != nil {
		return err
	}
	for k, g := range more.Groups {
		if _, ok := o.Groups[k]; !ok {
			o.Groups[k] = g
		}
	}
	return nil
}

// latest keeps one group of each key, the last decided, in the place of the first: a later item
// of a plural replace or update was decided on the earlier one's result, so it is the key's.
func (h heldGroups) latest() heldGroups {
	at := make(map[string]int, len(h))
	out := h[:0]
	for _, g := range h {
		if i, ok := at[g.Key]; ok {
			out[i] = g
			continue
		}
		at[g.Key] = len(out)
		out = append(out, g)
	}
	clear(h[len(out):])
	return out
}
