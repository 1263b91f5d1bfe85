package live

import (
	"context"
	"sort"

	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/store"
)

// read answers the read operations. A read takes no lock: it sees one snapshot of the store.
func (s *Service) read(ctx context.Context, l store.Live, t *Tenant, req *Request) (*Result, error) {
	if req.Association != "" {
		return s.readAssociations(ctx, l, t, req)
	}
	res := &Result{Statuses: make([]Status, len(req.Items))}
	var q store.LiveQuery
	for _, it := range req.Items {
		if it.Err != nil {
			continue
		}
		switch {
		case req.Action == Read && req.Type == record.Persons:
			q.Persons = append(q.Persons, it.Key)
		case req.Action == Read && req.Type == record.Groups:
			q.Groups = append(q.Groups, it.Key)
		case req.Action == Read:
			q.MembershipIDs = append(q.MembershipIDs, it.Key)
			if k, ok := t.keys.keyID(it.Key); ok {
				q.MembershipsOfPairs = append(q.MembershipsOfPairs, [2]string{k.Group, k.Member})
			}
		case req.Action == ReadForPerson:
			q.Persons = append(q.Persons, it.Key)
			q.MembershipsOfPersons = append(q.MembershipsOfPersons, it.Key)
			q.WithIDs = true
		case req.Action == ReadForGroup:
			q.Groups = append(q.Groups, it.Key)
			q.MembershipsOfGroups = append(q.MembershipsOfGroups, it.Key)
			q.WithIDs = true
		}
	}
	o, err := l.LiveLoad(ctx, t.ID, q)
	if err != nil {
		return nil, err
	}
	ids := map[record.MembershipKey]string{}
	for id, keys := range o.IDs {
		for _, k := range keys {
			ids[k] = id
		}
	}
	idOf := func(k record.MembershipKey) string {
		if id, ok := ids[k]; ok {
			return id
		}
		return KeyID(k)
	}
	var groupsWanted, personsWanted []string
	for i, it := range req.Items {
		if it.Err != nil {
			res.Statuses[i] = *it.Err
			continue
		}
		res.Statuses[i] = ok()
		switch {
		case req.Action == Read && req.Type == record.Persons:
			p, found := o.Persons[it.Key]
			if !found || p.Trashed {
				res.Statuses[i] = fail(UnknownObject, "person %q is unknown", it.Key)
				continue
			}
			res.Persons = append(res.Persons, p)
		case req.Action == Read && req.Type == record.Groups:
			g, found := o.Groups[it.Key]
			if !found {
				res.Statuses[i] = fail(UnknownObject, "group %q is unknown", it.Key)
				continue
			}
			res.Groups = append(res.Groups, g)
		case req.Action == Read:
			keys := o.IDs[it.Key]
			if len(keys) == 0 {
				if k, ok := t.keys.keyID(it.Key); ok {
					keys = []record.MembershipKey{k}
				}
			}
			n := 0
			for _, k := range keys {
				if m, found := o.Memberships[k]; found {
					res.Memberships = append(res.Memberships, Membership{ID: it.Key, Membership: m.Membership})
					n++
				}
			}
			if n == 0 {
				res.Statuses[i] = fail(UnknownObject, "membership %q is unknown", it.Key)
			}
		case req.Action == ReadForPerson:
			if p, found := o.Persons[it.Key]; !found || p.Trashed {
				res.Statuses[i] = fail(UnknownObject, "person %q is unknown", it.Key)
				continue
			}
			for _, m := range sortedMemberships(o, func(k record.MembershipKey, m store.StoredMembership) bool {
				return k.Member == it.Key && m.MemberType != record.MemberGroup
			}) {
				if req.Type == record.Groups {
					groupsWanted = append(groupsWanted, m.Group)
				} else {
					res.Memberships = append(res.Memberships, Membership{ID: idOf(m.MembershipKey), Membership: m})
				}
			}
		case req.Action == ReadForGroup:
			if _, found := o.Groups[it.Key]; !found {
				res.Statuses[i] = fail(UnknownObject, "group %q is unknown", it.Key)
				continue
			}
			for _, m := range sortedMemberships(o, func(k record.MembershipKey, m store.StoredMembership) bool {
				return k.Group == it.Key
			}) {
				if req.Type == record.Persons {
					if m.MemberType != record.MemberGroup {
						personsWanted = append(personsWanted, m.Member)
					}
				} else {
					res.Memberships = append(res.Memberships, Membership{ID: idOf(m.MembershipKey), Membership: m})
				}
			}
		}
	}
	if req.Action == Read && req.Type == record.Groups {
		if err := s.readParents(ctx, l, t, res); err != nil {
			return nil, err
		}
	}
	if len(groupsWanted)+len(personsWanted) > 0 {
		o2, err := l.LiveLoad(ctx, t.ID, store.LiveQuery{Groups: uniq(groupsWanted), Persons: uniq(personsWanted)})
		if err != nil {
			return nil, err
		}
		for _, k := range uniq(groupsWanted) {
			if g, ok := o2.Groups[k]; ok {
				res.Groups = append(res.Groups, g)
			}
		}
		for _, k := range uniq(personsWanted) {
			if p, ok := o2.Persons[k]; ok && !p.Trashed {
				res.Persons = append(res.Persons, p)
			}
		}
	}
	return res, nil
}

// readParents reads the stored parents of the groups res holds into res.Parents.
func (s *Service) readParents(ctx context.Context, l store.Live, t *Tenant, res *Result) error {
	var keys []string
	for _, g := range res.Groups {
		keys = append(keys, g.Parents...)
	}
	if len(keys) == 0 {
		return nil
	}
	o, err := l.LiveLoad(ctx, t.ID, store.LiveQuery{Groups: uniq(keys)})
	if err != nil {
		return err
	}
	res.Parents = o.Groups
	return nil
}

func sortedMemberships(o *store.LiveObjects, keep func(record.MembershipKey, store.StoredMembership) bool) []record.Membership {
	var out []record.Membership
	for k, m := range o.Memberships {
		if keep(k, m) {
			out = append(out, m.Membership)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].MembershipKey.String() < out[j].MembershipKey.String() })
	return out
}

func uniq(s []string) []string {
	seen := map[string]bool{}
	out := s[:0:0]
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}
