package live

import (
	"context"

	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/store"
)

// rename runs changePersonIdentifier: each item gives an active person a new key. Its
// memberships (synced and manual) and the client's membership identifiers move with it; nothing
// is removed or created, so the safety filter has nothing to count. A new key that any person
// holds (active or in the trash can), or that a membership already names, is refused: keys are
// never merged.
func (s *Service) rename(ctx context.Context, l store.Live, t *Tenant, req *Request) (*Result, store.LiveApplyParams, error) {
	var p store.LiveApplyParams
	res := &Result{Statuses: make([]Status, len(req.Items))}
	var q store.LiveQuery
	for _, it := range req.Items {
		if it.Err == nil {
			q.Persons = append(q.Persons, it.Key, it.NewKey)
			q.MembershipsOfPersons = append(q.MembershipsOfPersons, it.Key, it.NewKey)
		}
	}
	o, err := l.LiveLoad(ctx, t.ID, q)
	if err != nil {
		return nil, p, err
	}
	p.RenameBase = o.Version
	used := map[string]bool{} // keys this request renames from or to
	for i := range req.Items {
		it := &req.Items[i]
		if it.Err != nil {
			res.Statuses[i] = *it.Err
			continue
		}
		old, found := o.Persons[it.Key]
		_, taken := o.Persons[it.NewKey]
		named := false
		for k := range o.Memberships {
			named = named || (k.Member == it.NewKey && o.Memberships[k].MemberType != record.MemberGroup)
		}
		switch {
		case req.Type != record.Persons:
			res.Statuses[i] = fail(InvalidData, "only a person's identifier can be changed")
			continue
		case it.NewKey == "":
			res.Statuses[i] = fail(InvalidData, "person %q: the request has no new identifier", it.Key)
			continue
		case !found || old.Trashed:
			res.Statuses[i] = fail(UnknownObject, "person %q is unknown", it.Key)
			continue
		case it.NewKey == it.Key:
			res.Statuses[i] = ok()
			continue
		case taken || named || used[it.NewKey] || used[it.Key]:
			res.Statuses[i] = fail(IDAllocInUse, "person %q: the new identifier %q is in use (by a person, active or in the trash can, or a membership); nothing was changed", it.Key, it.NewKey)
			continue
		}
		pr := old.Person
		pr.Key = it.NewKey
		pr.Attrs = append(record.Attrs(nil), old.Attrs...)
		if st := t.mapPerson(&pr); st != nil {
			res.Statuses[i] = *st
			continue
		}
		pr.ComputeHash()
		r := store.LiveRename{Old: it.Key, New: it.NewKey, Hash: pr.Hash, Memberships: map[record.MembershipKey]record.Hash{}}
		failed := false
		for k, m := range o.Memberships {
			if k.Member != it.Key || m.MemberType == record.MemberGroup {
				continue
			}
			nm := m.Membership
			nm.Member = it.NewKey
			nm.Attrs = append(record.Attrs(nil), m.Attrs...)
			if st := t.mapMembership(&nm); st != nil {
				res.Statuses[i], failed = *st, true
				break
			}
			nm.ComputeHash()
			r.Memberships[k] = nm.Hash
		}
		if failed {
			continue
		}
		used[it.Key], used[it.NewKey] = true, true
		p.Renames = append(p.Renames, r)
		res.Statuses[i] = ok()
	}
	return res, p, nil
}
