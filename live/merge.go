package live

import (
	"strings"

	"github.com/imsfeed/imsfeed/record"
)

// An update changes only the fields it carries: the stored record's other fields stay. Carried
// names attribute roots ("email" covers "email" and "email.*") and the record's own fields
// ("@name", "@secret", "@types", "@parents").

func carries(carried []string, name string) bool {
	for _, c := range carried {
		if name == c || strings.HasPrefix(name, c+".") {
			return true
		}
	}
	return false
}

func mergeAttrs(old, new record.Attrs, carried []string) record.Attrs {
	out := make(record.Attrs, 0, len(old)+len(new))
	for _, a := range old {
		if !carries(carried, a.Name) {
			out = append(out, a)
		}
	}
	out = append(out, new...)
	out.Sort()
	return out
}

// mergePerson is the stored person with the carried fields of the update. The stored person's
// password digest is not kept (passwords are never stored): when the update carries no
// password and nothing else changed, the stored hash is kept as it is.
func mergePerson(old, upd *record.Person, carried []string) *record.Person {
	if upd == nil {
		upd = &record.Person{Key: old.Key}
	}
	m := &record.Person{Key: old.Key, Source: old.Source, Name: old.Name}
	if upd.Source != "" {
		m.Source = upd.Source
	}
	if has(carried, "@name") {
		m.Name = upd.Name
	}
	m.Attrs = mergeAttrs(old.Attrs, upd.Attrs, carried)
	if has(carried, "@secret") {
		m.Secret = upd.Secret
	}
	m.ComputeHash()
	if !has(carried, "@secret") && m.Name == old.Name && m.Source == old.Source && sameAttrs(m.Attrs, old.Attrs) {
		m.Hash = old.Hash // unchanged, whatever password digest the stored hash holds
	}
	return m
}

func mergeGroup(old, upd *record.Group, carried []string) *record.Group {
	if upd == nil {
		upd = &record.Group{Key: old.Key}
	}
	m := &record.Group{Key: old.Key, Source: old.Source, Name: old.Name, Types: old.Types, Parents: old.Parents, SelfParent: old.SelfParent}
	if upd.Source != "" {
		m.Source = upd.Source
	}
	if has(carried, "@name") {
		m.Name = upd.Name
	}
	if has(carried, "@types") {
		m.Types = upd.Types
	}
	if has(carried, "@parents") {
		m.Parents, m.SelfParent = upd.Parents, upd.SelfParent
	}
	m.Attrs = mergeAttrs(old.Attrs, upd.Attrs, carried)
	m.ComputeHash()
	return m
}

func mergeMembership(old, upd *record.Membership, carried []string) *record.Membership {
	m := *upd
	m.Attrs = mergeAttrs(old.Attrs, upd.Attrs, carried)
	m.ComputeHash()
	return &m
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func sameAttrs(a, b record.Attrs) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// keepAttrs is the replacing person with the stored attributes under keep added (those it
// carries itself under keep win).
func keepAttrs(old, p *record.Person, keep []string) *record.Person {
	m := *p
	m.Attrs = nil
	for _, a := range p.Attrs {
		m.Attrs = append(m.Attrs, a)
	}
	for _, a := range old.Attrs {
		if carries(keep, a.Name) && p.Attrs.Get(a.Name) == "" {
			m.Attrs = append(m.Attrs, a)
		}
	}
	m.Attrs.Sort()
	m.ComputeHash()
	return &m
}
