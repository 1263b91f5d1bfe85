package change

import (
	"fmt"

	"github.com/imsfeed/imsfeed/record"
)

// Touch is what one applied change set touched, as the live channel stores it with each request
// that changed the state: the persons and groups whose rows it changed (removed ones too), those
// it removed (trashed, deleted, archived, or renamed away), the persons and groups its changes
// name without changing them (a membership's group and member, a relation's persons, a group's
// parents, and the IMS ES membership identifiers it stored or dropped), and the memberships and
// relations it changed. Persons, groups and identifiers share one set of keys: a person and a
// group of the same key are taken for one object, which can only make the checks stricter.
type Touch struct {
	Changed     []string               `json:"changed,omitempty"`
	Removed     []string               `json:"removed,omitempty"`
	Named       []string               `json:"named,omitempty"`
	Memberships []record.MembershipKey `json:"memberships,omitempty"`
	Relations   []record.RelationKey   `json:"relations,omitempty"`
}

// TouchOf is what plan touches.
func TouchOf(p *Plan) Touch {
	var t Touch
	for _, x := range p.Persons {
		t.Changed = append(t.Changed, x.Person.Key)
		if x.Op.Removal() {
			t.Removed = append(t.Removed, x.Person.Key)
		}
	}
	for _, x := range p.Groups {
		t.Changed = append(t.Changed, x.Group.Key)
		if x.Op.Removal() {
			t.Removed = append(t.Removed, x.Group.Key)
		} else {
			t.Named = append(t.Named, x.Group.Parents...)
		}
	}
	for _, x := range p.Memberships {
		t.Memberships = append(t.Memberships, x.Membership.MembershipKey)
		t.Named = append(t.Named, x.Membership.Group, x.Membership.Member)
	}
	for _, x := range p.Relations {
		t.Relations = append(t.Relations, x.Relation.RelationKey)
		t.Named = append(t.Named, x.Relation.Person, x.Relation.Related)
	}
	return t
}

// Rename adds a person's move from key old to key new (the live channel's
// changePersonIdentifier) with the memberships that move with it.
func (t *Touch) Rename(old, new string, memberships []record.MembershipKey) {
	t.Changed = append(t.Changed, old, new)
	t.Removed = append(t.Removed, old)
	for _, k := range memberships {
		moved := k
		moved.Member = new
		t.Memberships = append(t.Memberships, k, moved)
		t.Named = append(t.Named, k.Group)
	}
}

// Touched is what a series of applied change sets touched (the live requests applied since a
// held plan was made), each key with the first request that touched it.
type Touched struct {
	Requests    int
	changed     map[string]int64
	removed     map[string]int64
	named       map[string]int64
	memberships map[record.MembershipKey]int64
	relations   map[record.RelationKey]int64
}

// Add adds what request id touched.
func (t *Touched) Add(id int64, x Touch) {
	if t.changed == nil {
		t.changed, t.removed, t.named = map[string]int64{}, map[string]int64{}, map[string]int64{}
		t.memberships, t.relations = map[record.MembershipKey]int64{}, map[record.RelationKey]int64{}
	}
	t.Requests++
	first(t.changed, x.Changed, id)
	first(t.removed, x.Removed, id)
	first(t.named, x.Named, id)
	first(t.memberships, x.Memberships, id)
	first(t.relations, x.Relations, id)
}

func first[K comparable](m map[K]int64, keys []K, id int64) {
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			m[k] = id
		}
	}
}

// Names reports whether any of keys is a person, group or membership identifier t's changes
// changed, removed or named (a membership's group or member, a relation's persons).
func (t *Touched) Names(keys ...string) bool {
	for _, k := range keys {
		if _, ok := t.changed[k]; ok {
			return true
		}
		if _, ok := t.named[k]; ok {
			return true
		}
	}
	return false
}

// Collides says why plan, made before the changes t sums were applied, no longer describes
// what it would do on top of them, or "" when it still does. It does when no change of t and
// no change of plan touch the same person, group, membership or relation, and neither removes
// what the other's changes name: applying plan after them then leaves the same state as
// applying it before them and them after it, each as it was decided. So a held plan may be
// approved while an SIS keeps sending live requests about other objects. direct says the
// reason is an object both changed rather than one side's change naming what the other
// removed: such a reason comes first, and a caller reading a plan in pieces keeps looking for
// one, as it tells an operator more (the group a live request deleted, not a person whose
// membership of it went with it).
func (t *Touched) Collides(plan *Plan) (why string, direct bool) {
	if t.Requests == 0 {
		return "", false
	}
	if why := t.same(plan); why != "" {
		return why, true
	}
	return t.namesRemoved(plan), false
}

// same is the first object both plan and t changed.
func (t *Touched) same(plan *Plan) string {
	obj := func(kind, key string, op Op) string {
		if id, ok := t.changed[key]; ok {
			return fmt.Sprintf("%s %q, which this plan %ss, was changed by live request %d", kind, key, op.verb(), id)
		}
		return ""
	}
	for _, x := range plan.Groups {
		if why := obj("group", x.Group.Key, x.Op); why != "" {
			return why
		}
	}
	for _, x := range plan.Persons {
		if why := obj("person", x.Person.Key, x.Op); why != "" {
			return why
		}
	}
	for _, x := range plan.Memberships {
		if id, ok := t.memberships[x.Membership.MembershipKey]; ok {
			return fmt.Sprintf("membership %s, which this plan %ss, was changed by live request %d", x.Membership.MembershipKey, x.Op.verb(), id)
		}
	}
	for _, x := range plan.Relations {
		k := x.Relation.RelationKey
		if id, ok := t.relations[k]; ok {
			return fmt.Sprintf("relation %s→%s (%s), which this plan %ss, was changed by live request %d", k.Person, k.Related, k.Type, x.Op.verb(), id)
		}
	}
	return ""
}

// namesRemoved is the first removal of one side that the other side's changes name.
func (t *Touched) namesRemoved(plan *Plan) string {
	removed := func(kind, key string, op Op) string {
		if id, ok := t.named[key]; ok && op.Removal() {
			return fmt.Sprintf("%s %q, which this plan %ss, is named by what live request %d changed", kind, key, op.verb(), id)
		}
		return ""
	}
	gone := func(what, key string) string {
		if id, ok := t.removed[key]; ok {
			return fmt.Sprintf("%s names %q, which live request %d removed", what, key, id)
		}
		return ""
	}
	for _, x := range plan.Groups {
		if why := removed("group", x.Group.Key, x.Op); why != "" {
			return why
		}
		if x.Op.Removal() {
			continue
		}
		for _, parent := range x.Group.Parents {
			if why := gone(fmt.Sprintf("this plan's %s of group %q", x.Op.verb(), x.Group.Key), parent); why != "" {
				return why
			}
		}
	}
	for _, x := range plan.Persons {
		if why := removed("person", x.Person.Key, x.Op); why != "" {
			return why
		}
	}
	for _, x := range plan.Memberships {
		k := x.Membership.MembershipKey
		for _, key := range [2]string{k.Group, k.Member} {
			if why := gone(fmt.Sprintf("this plan's %s of membership %s", x.Op.verb(), k), key); why != "" {
				return why
			}
		}
	}
	for _, x := range plan.Relations {
		k := x.Relation.RelationKey
		for _, key := range [2]string{k.Person, k.Related} {
			if why := gone(fmt.Sprintf("this plan's %s of relation %s→%s", x.Op.verb(), k.Person, k.Related), key); why != "" {
				return why
			}
		}
	}
	return ""
}

// verb is the op as a verb: "insert", "delete", "archive", "manualize".
func (o Op) verb() string {
	if o == Manualize {
		return "manualize"
	}
	return o.String()
}
