package ims

import (
	"context"
	"encoding/xml"
	"fmt"
	"strings"

	"github.com/imsfeed/imsfeed/record"
)

// A record that came by another way than a file (the live channel) gets the tenant's mappings
// too: they are XPaths on the IMS Enterprise 1.1 element a nightly file holds, so the record is
// written in that form from its fields (an IMS ES <extensionField> named N is the file's
// <extension><N>) and read back here with the mappings: one XPath, one value, whichever channel
// the record came by.

// Mapper applies a tenant's mappings to records that came by another way than a file.
type Mapper struct {
	ms [3][]Mapping
}

// NewMapper checks and keeps the mappings; nil when there are none.
func NewMapper(ms []Mapping) (*Mapper, error) {
	if len(ms) == 0 {
		return nil, nil
	}
	if _, err := compileMappings(ms); err != nil {
		return nil, err
	}
	m := &Mapper{}
	for _, x := range ms {
		m.ms[x.Type] = append(m.ms[x.Type], x)
	}
	return m, nil
}

const mappedPrefix = "x."

// Person sets p's mapped attributes from its file form and reports whether they changed (the
// caller recomputes the hash then).
func (m *Mapper) Person(p *record.Person) (bool, error) {
	if m == nil || len(m.ms[record.Persons]) == 0 {
		return false, nil
	}
	var b form
	b.open("person")
	b.sourcedid(p.Source, p.Key)
	personForm(&b, p)
	b.close("person")
	got, err := m.read(record.Persons, b.String())
	if err != nil || len(got.persons) != 1 {
		return false, mapErr(err, "person", p.Key)
	}
	return remap(&p.Attrs, got.persons[0].Attrs), nil
}

// Group sets g's mapped attributes as Person does.
func (m *Mapper) Group(g *record.Group) (bool, error) {
	if m == nil || len(m.ms[record.Groups]) == 0 {
		return false, nil
	}
	var b form
	b.open("group")
	b.sourcedid(g.Source, g.Key)
	for _, t := range g.Types {
		b.open("grouptype")
		b.leaf("scheme", t.Scheme, "")
		lv := ""
		if t.Level != "" {
			lv = ` level="` + esc(t.Level) + `"`
		}
		b.leaf("typevalue", t.Value, lv)
		b.close("grouptype")
	}
	nest(&b, g.Attrs, "description", "timeframe", "org", "enrollcontrol", "email", "url", "extension")
	for _, pk := range g.Parents {
		b.open(`relationship relation="1"`)
		b.sourcedid("", pk)
		b.close("relationship")
	}
	b.close("group")
	got, err := m.read(record.Groups, b.String())
	if err != nil || len(got.groups) != 1 {
		return false, mapErr(err, "group", g.Key)
	}
	return remap(&g.Attrs, got.groups[0].Attrs), nil
}

// Membership sets ms's mapped attributes as Person does.
func (m *Mapper) Membership(ms *record.Membership) (bool, error) {
	if m == nil || len(m.ms[record.Memberships]) == 0 {
		return false, nil
	}
	var b form
	b.open("membership")
	b.sourcedid("", ms.Group)
	b.open("member")
	b.sourcedid("", ms.Member)
	idt := "1"
	if ms.MemberType == record.MemberGroup {
		idt = "2"
	}
	b.leaf("idtype", idt, "")
	b.open(`role roletype="` + esc(ms.Role) + `"`)
	status := "1"
	if ms.Inactive {
		status = "0"
	}
	b.leaf("status", status, "")
	nest(&b, ms.Attrs, "subrole", "timeframe", "extension")
	b.close("role")
	b.close("member")
	b.close("membership")
	got, err := m.read(record.Memberships, b.String())
	if err != nil || len(got.memberships) != 1 {
		return false, mapErr(err, "membership", ms.MembershipKey.String())
	}
	return remap(&ms.Attrs, got.memberships[0].Attrs), nil
}

func mapErr(err error, what, key string) error {
	if err == nil {
		err = fmt.Errorf("not read back")
	}
	return fmt.Errorf("mappings on %s %q: %w", what, key, err)
}

type collected struct {
	persons     []*record.Person
	groups      []*record.Group
	memberships []*record.Membership
}

func (c *collected) Person(p *record.Person) error { c.persons = append(c.persons, p); return nil }
func (c *collected) Group(g *record.Group) error   { c.groups = append(c.groups, g); return nil }
func (c *collected) Membership(m *record.Membership) error {
	c.memberships = append(c.memberships, m)
	return nil
}

func (m *Mapper) read(t record.Type, elem string) (*collected, error) {
	var c collected
	_, err := Read(context.Background(), strings.NewReader("<enterprise>"+elem+"</enterprise>"), "live record",
		Options{Mode: ModeEvent, Mappings: m.ms[t]}, &c)
	return &c, err
}

// remap replaces the mapped attributes of attrs by those of read; it reports a change.
func remap(attrs *record.Attrs, read record.Attrs) bool {
	var old, out, mapped record.Attrs
	for _, a := range *attrs {
		if strings.HasPrefix(a.Name, mappedPrefix) {
			old = append(old, a)
		} else {
			out = append(out, a)
		}
	}
	for _, a := range read {
		if strings.HasPrefix(a.Name, mappedPrefix) {
			mapped = append(mapped, a)
		}
	}
	same := len(old) == len(mapped)
	for i := 0; same && i < len(old); i++ {
		same = old[i] == mapped[i]
	}
	if same {
		return false
	}
	out = append(out, mapped...)
	out.Sort()
	*attrs = out
	return true
}

// personForm writes a person's fields as a file's <person> holds them.
func personForm(b *form, p *record.Person) {
	a := p.Attrs
	// <userid>: one per type, and the plain one when it is not one of them.
	plain := a.Get("userid")
	typed := false
	for _, x := range a {
		if t, ok := strings.CutPrefix(x.Name, "userid."); ok {
			b.leaf("userid", x.Value, ` useridtype="`+esc(t)+`"`)
			typed = typed || x.Value == plain
		}
	}
	if plain != "" && !typed {
		b.leaf("userid", plain, "")
	}
	b.open("name")
	b.leaf("fn", p.Name, "")
	for _, x := range a {
		if x.Name == "name.nickname" || x.Name == "name.sort" {
			b.leaf(strings.TrimPrefix(x.Name, "name."), x.Value, "")
		}
	}
	b.open("n")
	for _, x := range a {
		switch n, _ := strings.CutPrefix(x.Name, "name."); {
		case !strings.HasPrefix(x.Name, "name.") || n == "nickname" || n == "sort":
		case strings.HasPrefix(n, "partname."):
			b.leaf("partname", x.Value, ` partnametype="`+esc(strings.TrimPrefix(n, "partname."))+`"`)
		default:
			b.leaf(n, x.Value, "")
		}
	}
	b.close("n")
	b.close("name")
	for _, x := range a {
		switch {
		case x.Name == "email" || x.Name == "url":
			b.leaf(x.Name, x.Value, "")
		case strings.HasPrefix(x.Name, "tel."):
			b.leaf("tel", x.Value, ` teltype="`+esc(strings.TrimPrefix(x.Name, "tel."))+`"`)
		case x.Name == "photo":
			b.open("photo")
			b.leaf("extref", x.Value, "")
			b.close("photo")
		case x.Name == "institutionrole":
			primary := "No"
			if a.Get("institutionrole.primary") == x.Value {
				primary = "Yes"
			}
			b.leaf("institutionrole", "", ` institutionroletype="`+esc(x.Value)+`" primaryrole="`+primary+`"`)
		case x.Name == "systemrole":
			b.leaf("systemrole", "", ` systemroletype="`+esc(x.Value)+`"`)
		}
	}
	nest(b, a, "adr", "demographics", "org", "extension")
}

// nest writes the attributes under the given roots as nested elements: "adr.street" is
// <adr><street>, "extension.a.b@c" is <extension><a><b c="…">.
func nest(b *form, a record.Attrs, roots ...string) {
	type el struct {
		name  string
		attrs []string
		text  string
		kids  []*el
	}
	top := &el{}
	child := func(e *el, name string) *el {
		for _, k := range e.kids {
			if k.name == name {
				return k
			}
		}
		k := &el{name: name}
		e.kids = append(e.kids, k)
		return k
	}
	want := map[string]bool{}
	for _, r := range roots {
		want[r] = true
	}
	for _, x := range a {
		path, attr, _ := strings.Cut(x.Name, "@")
		parts := strings.Split(path, ".")
		if !want[parts[0]] {
			continue
		}
		e := top
		for _, p := range parts {
			e = child(e, p)
		}
		switch {
		case attr == "":
			e.text = x.Value
		case xmlName(attr):
			e.attrs = append(e.attrs, ` `+attr+`="`+esc(x.Value)+`"`)
		}
	}
	var write func(e *el)
	write = func(e *el) {
		if !xmlName(e.name) {
			return
		}
		if len(e.kids) == 0 {
			b.leaf(e.name, e.text, strings.Join(e.attrs, ""))
			return
		}
		b.open(e.name + strings.Join(e.attrs, ""))
		for _, k := range e.kids {
			write(k)
		}
		b.close(e.name)
	}
	for _, k := range top.kids {
		write(k)
	}
}

// xmlName reports whether s can be an element name (a field name from a live client might not).
func xmlName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		ok := r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r > 0x7f
		if i > 0 {
			ok = ok || r == '-' || r == '.' || r >= '0' && r <= '9'
		}
		if !ok {
			return false
		}
	}
	return true
}

// form builds an XML fragment.
type form struct{ strings.Builder }

func (b *form) open(tag string) { b.WriteString("<" + tag + ">") }
func (b *form) close(name string) {
	b.WriteString("</" + name + ">")
}

func (b *form) leaf(name, text, attrs string) {
	b.WriteString("<" + name + attrs + ">" + esc(text) + "</" + name + ">")
}

func (b *form) sourcedid(source, id string) {
	b.open("sourcedid")
	if source != "" {
		b.leaf("source", source, "")
	}
	b.leaf("id", id, "")
	b.close("sourcedid")
}

func esc(s string) string {
	var sb strings.Builder
	_ = xml.EscapeText(&sb, []byte(s))
	return sb.String()
}
