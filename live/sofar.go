package live

import (
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/store"
)

// soFar is what the earlier items of a plural replace or update made of the objects they
// name: an item is decided on that, not on the object as stored, so the request's items take
// effect in order, as if sent one after another. An update after an update of one person keeps
// the fields of both (the second was decided on the stored person, and the first's fields
// were lost although it was answered success); a replace after anything replaces it whole; an
// object an earlier item removed (a membership a replace moved to another group, member or
// role) is missing to a later one. The objects read stay as stored: the diff and the placement
// compare with them. (A key created or deleted twice is createdHere's: only the first item of
// it is applied.)
type soFar struct {
	o           *store.LiveObjects
	persons     map[string]*record.Person
	groups      map[string]*record.Group
	memberships map[record.MembershipKey]*record.Membership // nil: removed by an earlier item
	ids         map[string][]record.MembershipKey           // an identifier's keys after the earlier items
}

// newSoFar is the view of the objects read o that req's items are decided on. Only a plural
// replace or update keeps what its items made (nothing else has two items of one key to decide).
func newSoFar(req *Request, o *store.LiveObjects) *soFar {
	f := &soFar{o: o}
	if req.Plural && (req.Action == Replace || req.Action == Update) {
		f.persons = map[string]*record.Person{}
		f.groups = map[string]*record.Group{}
		f.memberships = map[record.MembershipKey]*record.Membership{}
		f.ids = map[string][]record.MembershipKey{}
	}
	return f
}

func (f *soFar) keeps() bool { return f.persons != nil }

func (f *soFar) person(key string) (store.StoredPerson, bool) {
	if p, ok := f.persons[key]; ok {
		return store.StoredPerson{Person: *p}, true
	}
	p, ok := f.o.Persons[key]
	return p, ok
}

func (f *soFar) group(key string) (store.StoredGroup, bool) {
	if g, ok := f.groups[key]; ok {
		return store.StoredGroup{Group: *g}, true
	}
	g, ok := f.o.Groups[key]
	return g, ok
}

func (f *soFar) membership(k record.MembershipKey) (store.StoredMembership, bool) {
	if m, ok := f.memberships[k]; ok {
		if m == nil {
			return store.StoredMembership{}, false
		}
		return store.StoredMembership{Membership: *m}, true
	}
	m, ok := f.o.Memberships[k]
	return m, ok
}

// idKeys are the keys the membership identifier id stands for.
func (f *soFar) idKeys(id string) []record.MembershipKey {
	if keys, ok := f.ids[id]; ok {
		return keys
	}
	return f.o.IDs[id]
}

// wroteID reports whether an earlier item wrote the identifier id.
func (f *soFar) wroteID(id string) bool {
	_, ok := f.ids[id]
	return ok
}

func (f *soFar) madePerson(p *record.Person) {
	if f.keeps() {
		f.persons[p.Key] = p
	}
}

func (f *soFar) madeGroup(g *record.Group) {
	if f.keeps() {
		f.groups[g.Key] = g
	}
}

// madeMembership notes the membership of key k as m (nil: removed).
func (f *soFar) madeMembership(k record.MembershipKey, m *record.Membership) {
	if f.keeps() {
		f.memberships[k] = m
	}
}

func (f *soFar) madeID(id string, keys []record.MembershipKey) {
	if f.keeps() {
		f.ids[id] = keys
	}
}
