package live

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/diff"
	"github.com/imsfeed/imsfeed/hierarchy"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/safety"
	"github.com/imsfeed/imsfeed/store"
)

// write runs a create, replace, update or delete; the caller holds the tenant's lock until the
// result is applied. It reads what the items touch, decides each item, lets the diff (event mode) make the change set with its
// cascades, checks the live safety filter and hands back what LiveApply is to write.
func (s *Service) write(ctx context.Context, l store.Live, t *Tenant, req *Request) (*Result, store.LiveApplyParams, error) {
	if req.Action == ChangeIdentifier {
		return s.rename(ctx, l, t, req)
	}
	var p store.LiveApplyParams
	objs, err := l.LiveLoad(ctx, t.ID, query(t, req))
	if err != nil {
		return nil, p, err
	}
	if err := s.loadAssociations(ctx, l, t, req, objs); err != nil {
		return nil, p, err
	}
	res := &Result{Statuses: make([]Status, len(req.Items))}
	// Groups are decided first and placed together by the tenant's hierarchy rules, as the
	// nightly import places a file's groups; the nodes they go under are read before the diff.
	// An association is a group too (with its children's parent links), placed as the same
	// group of a nightly file with those children naming it would be.
	placed := req.Type == record.Groups
	var groups heldGroups
	created := createdHere{}
	made := newSoFar(req, objs)
	if placed {
		for i := range req.Items {
			it := &req.Items[i]
			switch {
			case it.Err != nil:
			case created.again(req, it, i, &res.Statuses[i]):
			case req.Association != "":
				res.Statuses[i] = s.association(&groups, t, objs, made, req, it)
			default:
				res.Statuses[i] = s.group(&groups, t, objs, made, req.Action, it)
			}
			created.note(req, it, i, res.Statuses[i])
		}
		if made.keeps() {
			groups = groups.latest()
		}
		if groups, err = s.place(ctx, l, t, req, objs, groups); err != nil {
			var ce *hierarchy.ClashError
			if errors.As(err, &ce) { // a group with the key of imsfeed's own node: nothing applied
				return whole(fail(IDAllocInUse, "group %s: %s", ce.Key, ce.Problem()), req), store.LiveApplyParams{}, nil
			}
			return nil, p, err
		}
	}
	st := stateOf(t.ID, objs)
	d := diff.New(st, diffOptions(t))
	for _, g := range groups {
		_ = d.Group(g)
	}
	// owner maps a membership key to the items that wrote it, to hand the diff's verdict back.
	owner := map[record.MembershipKey][]int{}
	for i := range req.Items {
		it := &req.Items[i]
		if it.Err != nil {
			res.Statuses[i] = *it.Err
			continue
		}
		if req.Type == record.Groups {
			continue // decided above
		}
		if created.again(req, it, i, &res.Statuses[i]) {
			continue
		}
		var st Status
		if req.Type == record.Persons {
			st = s.person(d, t, made, req.Action, it)
		} else {
			st = s.membership(d, t, objs, made, req.Action, it, &p, owner, i, created)
		}
		res.Statuses[i] = st
		created.note(req, it, i, st)
	}
	plan, warnings, err := d.Finish(diff.Finish{Mode: diff.Event})
	if err != nil {
		return nil, p, err
	}
	for _, w := range warnings {
		// A membership the diff refused (its group or person is unknown or not active): every
		// item that wrote it failed.
		for k, items := range owner {
			if k.String() != w.Key {
				continue
			}
			minor := InvalidData
			if strings.Contains(w.Message, "unknown") {
				minor = UnknownObject
			}
			for _, i := range items {
				if res.Statuses[i].OK() {
					res.Statuses[i] = fail(minor, "%s", strings.TrimSuffix(w.Message, "; membership skipped"))
				}
			}
		}
	}
	if len(warnings) > 0 {
		p.IDs = dropFailed(p.IDs, owner, res.Statuses)
	}
	p.Plan = plan
	removed := removals(plan)
	if removed != [3]int{} {
		if refused, err := s.checkRemovals(ctx, l, t, removed); err != nil {
			return nil, p, err
		} else if refused != nil {
			return whole(*refused, req), store.LiveApplyParams{}, nil
		}
	}
	return res, p, nil
}

// createdHere is what the items of a plural create or delete did so far: an item is decided
// as if the items before it were applied, so a key the request creates twice is refused for its
// second item (as a create of a stored key is), not applied over the first, and one it deletes
// twice is unknown to its second (as a delete of a key not stored is), not deleted twice.
type createdHere map[string]int // key, or "membership" (group, member, role), to item index

func membershipKey(k record.MembershipKey) string { return "\x00" + k.String() }

// again refuses item i when an earlier item of req creates or deletes what it names. (The
// memberships a delete names by identifier are known once read: see deletedHere.)
func (c createdHere) again(req *Request, it *Item, i int, st *Status) bool {
	if req.Action != Create && req.Action != Delete {
		return false
	}
	noun := "person"
	switch req.Type {
	case record.Groups:
		noun = "group"
	case record.Memberships:
		noun = "membership"
		for _, m := range it.Memberships {
			if j, dup := c[membershipKey(m.MembershipKey)]; dup && req.Action == Create {
				*st = fail(IDAllocInUse, "membership %q: %s is made a member of %s with role %s by item %d of this request", it.Key, m.Member, m.Group, record.RoleName(m.Role), j+1)
				return true
			}
		}
	}
	j, dup := c[it.Key]
	switch {
	case !dup || it.Key == "":
		return false
	case req.Action == Delete:
		*st = fail(UnknownObject, "%s %q is deleted by item %d of this request", noun, it.Key, j+1)
	default:
		*st = fail(IDAllocInUse, "%s %q is created by item %d of this request", noun, it.Key, j+1)
	}
	return true
}

// note remembers what item i created or deleted.
func (c createdHere) note(req *Request, it *Item, i int, st Status) {
	if req.Action != Create && req.Action != Delete || !st.OK() {
		return
	}
	if it.Key != "" {
		c[it.Key] = i
	}
	if req.Type == record.Memberships {
		for _, m := range it.Memberships {
			c[membershipKey(m.MembershipKey)] = i
		}
	}
}

// deletedHere is the stored memberships of keys an earlier item of the request deleted, by
// another identifier (its own and its "group/member/role"): the item deletes the others, and is
// unknown when there are none.
func (c createdHere) deletedHere(it *Item, i int, keys []record.MembershipKey) ([]record.MembershipKey, *Status) {
	var left []record.MembershipKey
	first := -1
	for _, k := range keys {
		if j, done := c[membershipKey(k)]; done {
			first = j
			continue
		}
		left = append(left, k)
		c[membershipKey(k)] = i
	}
	if len(left) == 0 && first >= 0 {
		st := fail(UnknownObject, "membership %q is deleted by item %d of this request", it.Key, first+1)
		return nil, &st
	}
	return left, nil
}

// dropFailed leaves out the identifiers of memberships whose last item failed: the diff
// refused them.
func dropFailed(ids []store.LiveMembershipID, owner map[record.MembershipKey][]int, st []Status) []store.LiveMembershipID {
	out := ids[:0]
	for _, id := range ids {
		if items, ok := owner[id.Key]; ok && !st[items[len(items)-1]].OK() {
			continue
		}
		out = append(out, id)
	}
	return out
}

// removals counts what the live safety filter limits: persons trashed, groups deleted or
// archived, memberships deleted (cascades too; memberships turned manual are not deletes).
func removals(p *change.Plan) [3]int {
	var n [3]int
	for _, c := range p.Persons {
		if c.Op == change.Delete {
			n[record.Persons]++
		}
	}
	for _, c := range p.Groups {
		if c.Op == change.Delete || c.Op == change.Archive {
			n[record.Groups]++
		}
	}
	for _, c := range p.Memberships {
		if c.Op == change.Delete {
			n[record.Memberships]++
		}
	}
	return n
}

// applied counts what the status mail reports besides the removals: objects inserted and
// updated per type, and persons restored from the trash can.
func applied(p *change.Plan) (ins, upd [3]int, restored int) {
	count := func(t record.Type, op change.Op) {
		switch op {
		case change.Insert:
			ins[t]++
		case change.Update:
			upd[t]++
		case change.Restore:
			restored++
		}
	}
	for _, c := range p.Persons {
		count(record.Persons, c.Op)
	}
	for _, c := range p.Groups {
		count(record.Groups, c.Op)
	}
	for _, c := range p.Memberships {
		count(record.Memberships, c.Op)
	}
	return ins, upd, restored
}

// query names what the request's items touch: the objects themselves and, for removals, the
// memberships that cascade.
func query(t *Tenant, req *Request) store.LiveQuery {
	var q store.LiveQuery
	for _, it := range req.Items {
		if it.Err != nil {
			continue
		}
		switch req.Type {
		case record.Persons:
			q.Persons = append(q.Persons, it.Key)
			if req.Action == Delete {
				q.MembershipsOfPersons = append(q.MembershipsOfPersons, it.Key)
			}
		case record.Groups:
			q.Groups = append(q.Groups, it.Key)
			if it.Group != nil {
				q.Groups = append(q.Groups, it.Group.Parents...)
			}
			if req.Action == Delete {
				q.MembershipsOfGroups = append(q.MembershipsOfGroups, it.Key)
			}
			if req.Association != "" {
				q.ChildrenOf = append(q.ChildrenOf, it.Key)
				q.Groups = append(q.Groups, it.Children...)
			}
		case record.Memberships:
			if it.Key != "" {
				q.MembershipIDs = append(q.MembershipIDs, it.Key)
				if k, ok := t.keys.keyID(it.Key); ok {
					q.MembershipsOfPairs = append(q.MembershipsOfPairs, [2]string{k.Group, k.Member})
					q.Groups = append(q.Groups, k.Group)
				}
			}
			for _, m := range it.Memberships {
				q.MembershipsOfPairs = append(q.MembershipsOfPairs, [2]string{m.Group, m.Member})
				q.Groups = append(q.Groups, m.Group)
				if m.MemberType == record.MemberGroup {
					q.Groups = append(q.Groups, m.Member)
				} else {
					q.Persons = append(q.Persons, m.Member)
				}
			}
		}
	}
	return q
}

// stateOf is the diff's view of the objects read: a slice of the tenant's state.
func stateOf(tenant string, o *store.LiveObjects) *change.State {
	st := change.NewState(tenant)
	st.Version = o.Version
	for k, p := range o.Persons {
		st.Persons[k] = change.PersonState{Hash: p.Hash, Name: p.Name, Trashed: p.Trashed}
	}
	for k, g := range o.Groups {
		st.Groups[k] = change.GroupState{Hash: g.Hash, Name: g.Name, Archived: g.Archived, Course: g.Course, Parents: g.Parents, Own: g.Source == hierarchy.Source}
	}
	for k, m := range o.Memberships {
		st.Memberships.Set(k, change.MembershipState{Hash: m.Hash, MemberType: m.MemberType, Manual: m.Manual})
	}
	return st
}

func (s *Service) person(d *diff.Differ, t *Tenant, made *soFar, a Action, it *Item) Status {
	stored, exists := made.person(it.Key)
	active := exists && !stored.Trashed
	switch a {
	case Create:
		if active {
			return fail(IDAllocInUse, "person %q exists", it.Key)
		}
	case Delete:
		if !active {
			return fail(UnknownObject, "person %q is unknown", it.Key)
		}
		_ = d.Person(&record.Person{Key: it.Key, RecStatus: record.StatusDelete})
		return ok()
	case Update:
		if exists {
			it.Person = mergePerson(&stored.Person, it.Person, it.Carried)
		}
	case Replace:
		if active && len(it.Keep) > 0 && it.Person != nil {
			it.Person = keepAttrs(&stored.Person, it.Person, it.Keep)
		}
	}
	if it.Person == nil {
		return fail(InvalidData, "person %q: no person given", it.Key)
	}
	if st := t.mapPerson(it.Person); st != nil {
		return *st
	}
	_ = d.Person(it.Person)
	made.madePerson(it.Person)
	return ok()
}

func (s *Service) group(d groupSink, t *Tenant, o *store.LiveObjects, made *soFar, a Action, it *Item) Status {
	stored, exists := made.group(it.Key)
	switch a {
	case Create:
		if exists {
			if stored.Archived {
				return fail(IDAllocInUse, "group %q is an archived course (an operator may restore it with `imsfeed archive restore`)", it.Key)
			}
			return fail(IDAllocInUse, "group %q exists", it.Key)
		}
	case Delete:
		if !exists || stored.Archived {
			return fail(UnknownObject, "group %q is unknown", it.Key)
		}
		_ = d.Group(&record.Group{Key: it.Key, RecStatus: record.StatusDelete})
		return ok()
	case DeleteRelationship:
		if !exists || stored.Archived {
			return fail(UnknownObject, "group %q is unknown", it.Key)
		}
		g := stored.Group
		g.Parents = nil
		gone := map[string]bool{}
		for _, p := range it.Group.Parents {
			gone[p] = true
		}
		found := it.Group.SelfParent && g.SelfParent
		for _, p := range stored.Parents {
			if gone[p] {
				found = true
				continue
			}
			g.Parents = append(g.Parents, p)
		}
		if !found {
			return fail(UnknownObject, "group %q has no such parent relationship", it.Key)
		}
		if it.Group.SelfParent {
			g.SelfParent = false
		}
		g.ComputeHash()
		if st := t.mapGroup(&g); st != nil {
			return *st
		}
		_ = d.Group(&g)
		return ok()
	case Replace, Update:
		if exists && stored.Archived {
			return fail(InvalidData, "group %q is an archived course; it stays archived (an operator may restore it with `imsfeed archive restore`)", it.Key)
		}
		if a == Update && exists {
			it.Group = mergeGroup(&stored.Group, it.Group, it.Carried)
		}
		if exists {
			keepAssociations(o, &stored.Group, it.Group)
		}
	}
	if it.Group == nil {
		return fail(InvalidData, "group %q: no group given", it.Key)
	}
	if st := t.mapGroup(it.Group); st != nil {
		return *st
	}
	_ = d.Group(it.Group)
	made.madeGroup(it.Group)
	return ok()
}

func (s *Service) membership(d *diff.Differ, t *Tenant, o *store.LiveObjects, made *soFar, a Action, it *Item, p *store.LiveApplyParams, owner map[record.MembershipKey][]int, i int, done createdHere) Status {
	known := made.idKeys(it.Key)
	if len(known) == 0 {
		if k, ok := t.keys.keyID(it.Key); ok {
			if m, ok := made.membership(k); ok && !m.Manual {
				known = []record.MembershipKey{k}
			}
		}
	}
	present := func(k record.MembershipKey) bool { m, ok := made.membership(k); return ok && !m.Manual }
	var stored []record.MembershipKey
	for _, k := range known {
		if present(k) {
			stored = append(stored, k)
		}
	}
	switch a {
	case Delete:
		if len(stored) == 0 {
			return fail(UnknownObject, "membership %q is unknown", it.Key)
		}
		stored, again := done.deletedHere(it, i, stored)
		if again != nil {
			return *again
		}
		for _, k := range stored {
			_ = d.Membership(&record.Membership{MembershipKey: k, MemberType: o.Memberships[k].MemberType, RecStatus: record.StatusDelete})
		}
		p.DropIDs = append(p.DropIDs, it.Key)
		return ok()
	case Create:
		if len(stored) > 0 {
			return fail(IDAllocInUse, "membership %q exists", it.Key)
		}
		for _, m := range it.Memberships {
			if present(m.MembershipKey) {
				return fail(IDAllocInUse, "membership %q: %s is a member of %s with role %s already", it.Key, m.Member, m.Group, record.RoleName(m.Role))
			}
		}
	}
	if len(it.Memberships) == 0 {
		return fail(InvalidData, "membership %q: no group, member and role given", it.Key)
	}
	for _, m := range it.Memberships {
		if st := memberOf(o, it.Key, &m); st != nil {
			return *st
		}
	}
	next := map[record.MembershipKey]bool{}
	var wrote []record.MembershipKey
	earlierIDs := len(p.IDs)
	for j := range it.Memberships {
		m := &it.Memberships[j]
		if a == Update {
			if old, ok := made.membership(m.MembershipKey); ok && !old.Manual {
				merged := mergeMembership(&old.Membership, m, it.Carried)
				m = merged
			}
		}
		if st := t.mapMembership(m); st != nil {
			return *st
		}
		next[m.MembershipKey] = true
		wrote = append(wrote, m.MembershipKey)
		owner[m.MembershipKey] = append(owner[m.MembershipKey], i)
		_ = d.Membership(m)
		made.madeMembership(m.MembershipKey, m)
		p.IDs = append(p.IDs, store.LiveMembershipID{ID: it.Key, Key: m.MembershipKey})
	}
	// A replace that names other (group, member, role)s than before removes the old ones.
	if a == Replace || a == Update {
		for _, k := range stored {
			if !next[k] && a == Replace {
				old, _ := made.membership(k)
				_ = d.Membership(&record.Membership{MembershipKey: k, MemberType: old.MemberType, RecStatus: record.StatusDelete})
				made.madeMembership(k, nil)
			}
		}
		if a == Replace && len(stored) > 0 {
			p.DropIDs = append(p.DropIDs, it.Key)
			if made.wroteID(it.Key) {
				// What an earlier item of the request tied it.Key to is replaced too.
				earlier := slices.DeleteFunc(slices.Clone(p.IDs[:earlierIDs]), func(x store.LiveMembershipID) bool { return x.ID == it.Key })
				p.IDs = append(earlier, p.IDs[earlierIDs:]...)
			}
		}
	}
	if made.keeps() {
		// The identifier stands for what the item wrote (an update: and what it stood for).
		if a == Update {
			for _, k := range known {
				if !next[k] {
					wrote = append(wrote, k)
				}
			}
		}
		made.madeID(it.Key, wrote)
	}
	return ok()
}

// memberOf refuses a membership whose group or person cannot have it, in the words of the
// live caller: a request has no file (the diff's own refusals speak of one, for the nightly
// import). A member group is left to the diff.
func memberOf(o *store.LiveObjects, id string, m *record.Membership) *Status {
	var st Status
	g, ok := o.Groups[m.Group]
	switch {
	case !ok:
		st = fail(UnknownObject, "membership %q: group %q is unknown", id, m.Group)
	case g.Archived:
		st = fail(InvalidData, "membership %q: group %q is an archived course", id, m.Group)
	case m.MemberType == record.MemberGroup:
		return nil
	default:
		p, ok := o.Persons[m.Member]
		switch {
		case !ok:
			st = fail(UnknownObject, "membership %q: person %q is unknown", id, m.Member)
		case p.Trashed:
			since := ""
			if !p.TrashedAt.IsZero() {
				since = " since " + p.TrashedAt.UTC().Format(time.RFC3339)
			}
			st = fail(InvalidData, "membership %q: person %q is in the trash can%s; a createPerson or replacePerson of %q restores them, then send the membership again",
				id, m.Member, since, m.Member)
		default:
			return nil
		}
	}
	return &st
}

// KeyID is the identifier a membership that no IMS ES client named (it came from a nightly
// file) is known by: group, member and role code joined by "/".
func KeyID(k record.MembershipKey) string { return k.Group + "/" + k.Member + "/" + k.Role }

func parseKeyID(id string) (record.MembershipKey, bool) {
	parts := strings.Split(id, "/")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return record.MembershipKey{}, false
	}
	role, ok := record.NormalizeRole(parts[2])
	if !ok {
		return record.MembershipKey{}, false
	}
	return record.MembershipKey{Group: parts[0], Member: parts[1], Role: role}, true
}

func diffOptions(t *Tenant) diff.Options { return diff.Options{Courses: t.Courses} }

const defaultLockWait = 2 * time.Second

// checkRemovals is the live safety filter: the removals of the last 24 h plus this request's,
// less the allowances granted in that window, against the tenant's deletes limits on the base at
// the window's start. It returns the refusal, or nil.
//
// The base is counted only as far as the verdict needs (removalBounds): a request under every
// type's min_changes counts nothing, and one over it a few rows, not the tenant's million
// memberships (about 0.4 s a request for the 316.8 MB feed's tenant). A refusal is decided
// again on the whole counts, so its message and figures are exact.
func (s *Service) checkRemovals(ctx context.Context, l store.Live, t *Tenant, now [3]int) (*Status, error) {
	since := s.now().Add(-24 * time.Hour)
	done, err := l.LiveRemovals(ctx, t.ID, since)
	if err != nil {
		return nil, err
	}
	allowed, err := l.LiveAllowance(ctx, t.ID, since)
	if err != nil {
		return nil, err
	}
	deletes := liveDeletes(done, now, allowed, t.Safety)
	if deletes == [3]int{} {
		return nil, nil
	}
	var trips []safety.Trip
	var active [3]int
	bounds, bounded := removalBounds(deletes, done, t.Safety)
	if bounded {
		active, err = l.LiveActive(ctx, t.ID, bounds)
		if err != nil {
			return nil, err
		}
		trips = liveTrips(deletes, active, done, t.Safety)
	}
	if !bounded || len(trips) > 0 {
		status, err := s.Store.Status(ctx, t.ID)
		if err != nil {
			return nil, err
		}
		active = [3]int{status.Persons.Active, status.Groups.Active, status.Memberships.Synced}
		trips = liveTrips(deletes, active, done, t.Safety)
	}
	if len(trips) == 0 {
		return nil, nil
	}
	r := Refusal{Trips: trips, Removes: now, Done: done, Allowed: allowed, Need: needed(done, now, allowed, active, t.Safety)}
	r.Left = max(allowed-(done[0]+done[1]+done[2]), 0)
	r.First = s.markRefusal(t.ID, allowed)
	if s.OnRefusal != nil {
		s.OnRefusal(t.ID, r)
	}
	st := fail(Refused, "refused whole, nothing applied: %s", r.Describe(t.ID))
	return &st, nil
}

// Refusal is a request the live safety filter refused, with the figures an operator sizes an
// allowance by.
type Refusal struct {
	Trips []safety.Trip
	// Removes is what the request would remove, Done what live requests removed in the last
	// 24 h (persons, groups, memberships).
	Removes, Done [3]int
	// Allowed is the allowance granted in the last 24 h, Left what of it the window's
	// removals have not used, Need the further allowance (`es allow --deletes Need`) that
	// lets this request through.
	Allowed, Left, Need int
	// First says it is the tenant's first refusal in 24 h, or the first since an allowance was
	// granted (too small, then): mail it.
	First bool
}

// Describe says what the request would remove, against which limit, and the allowance to grant.
func (r Refusal) Describe(tenant string) string {
	var names []string
	for _, tr := range r.Trips {
		names = append(names, tr.String())
	}
	allowance := "no allowance"
	if r.Allowed > 0 {
		allowance = fmt.Sprintf("an allowance of %d granted (%d left)", r.Allowed, r.Left)
	}
	return fmt.Sprintf("the request would remove %s; with %s removed live in the last 24 h and %s, that crosses the tenant's limit (%s); an operator may allow them with `imsfeed es allow --tenant %s --deletes %d --by NAME --reason TEXT`",
		Counted(r.Removes), Counted(r.Done), allowance, strings.Join(names, "; "), tenant, r.Need)
}

// Counted says removals per type: "30 persons, 0 groups and 1 membership".
func Counted(n [3]int) string {
	one := func(n int, noun string) string {
		if n == 1 {
			return "1 " + noun
		}
		return fmt.Sprintf("%d %ss", n, noun)
	}
	return one(n[record.Persons], "person") + ", " + one(n[record.Groups], "group") + " and " + one(n[record.Memberships], "membership")
}

// needed is the least further allowance under which the removals cross no limit (on the whole
// counts active): more allowance only lowers what is counted.
func needed(done, now [3]int, allowed int, active [3]int, p safety.Policy) int {
	lo, hi := 0, done[0]+done[1]+done[2]+now[0]+now[1]+now[2] // at hi nothing is counted
	for lo < hi {
		mid := (lo + hi) / 2
		if len(liveTrips(liveDeletes(done, now, allowed+mid, p), active, done, p)) == 0 {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// markRefusal reports whether the tenant's refusal is to be mailed: its first in 24 h (in this
// process), or the first since the window's allowance grew (an operator granted one, and it was
// too small).
func (s *Service) markRefusal(tenant string, allowed int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refused == nil {
		s.refused = map[string]refusal{}
	}
	now := s.now()
	last, seen := s.refused[tenant]
	if seen && now.Sub(last.at) < 24*time.Hour && allowed <= last.allowed {
		return false
	}
	s.refused[tenant] = refusal{at: now, allowed: allowed}
	return true
}

// refusal is the last mailed refusal of a tenant and the allowance it saw.
type refusal struct {
	at      time.Time
	allowed int
}

// lock takes the tenant's lock for a write, waiting LockWait; a nightly import holding it longer
// is a busy answer, not a queue without bound.
func (s *Service) lock(ctx context.Context, t *Tenant, req *Request) (release func(), busy *Result, err error) {
	wait := s.LockWait
	if wait == 0 {
		wait = defaultLockWait
	}
	release, err = s.Store.LockTenant(ctx, t.ID, wait)
	if errors.Is(err, store.ErrLocked) {
		return nil, whole(fail(TargetIsBusy, "an import of this tenant is in progress; send the request again later"), req), nil
	}
	return release, nil, err
}
