package live

import (
	"github.com/imsfeed/imsfeed/record"
)

// The tenant's mappings (config `mappings`, XPaths on the file's form of a record) apply to
// live records too, evaluated on the record written in that form (importer/ims.Mapper): the
// same person by file or live has the same mapped attributes and the same hash.

func (t *Tenant) mapPerson(p *record.Person) *Status {
	if t.Mapper == nil || p == nil {
		return nil
	}
	changed, err := t.Mapper.Person(p)
	return remapped(changed, err, p.ComputeHash)
}

func (t *Tenant) mapGroup(g *record.Group) *Status {
	if t.Mapper == nil || g == nil {
		return nil
	}
	// The mappings see the SIS's keys, as in its nightly file (keys.go).
	key, parents := g.Key, g.Parents
	g.Key, g.Parents = t.keys.sis(key), t.keys.sisAll(parents)
	changed, err := t.Mapper.Group(g)
	g.Key, g.Parents = key, parents
	return remapped(changed, err, g.ComputeHash)
}

func (t *Tenant) mapMembership(m *record.Membership) *Status {
	if t.Mapper == nil || m == nil {
		return nil
	}
	group, member := m.Group, m.Member
	m.Group = t.keys.sis(group)
	if m.MemberType == record.MemberGroup {
		m.Member = t.keys.sis(member)
	}
	changed, err := t.Mapper.Membership(m)
	m.Group, m.Member = group, member
	return remapped(changed, err, m.ComputeHash)
}

func remapped(changed bool, err error, rehash func()) *Status {
	if err != nil {
		st := fail(InvalidData, "the tenant's mappings could not be evaluated on this record: %v", err)
		return &st
	}
	if changed {
		rehash()
	}
	return nil
}
