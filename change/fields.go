package change

import (
	"sort"
	"strings"

	"github.com/imsfeed/imsfeed/record"
)

// Field is one stored field an update changes, old → new ("" for a field that was or becomes
// absent). The status mail's CSV and the console show these.
type Field struct {
	Name, Old, New string
}

// Fields lists what an update of a person changes: name and source, then the attributes by
// name. Without the stored record (c.Old, absent from plans held before it was kept) it can say
// only what the stored name was, when names knows it.
func (c *Person) Fields(names Names) []Field {
	if o := c.Old; o != nil {
		return fieldChanges([][3]string{{"name", o.Name, c.Person.Name}, {"source", o.Source, c.Person.Source}}, o.Attrs, c.Person.Attrs)
	}
	if names != nil {
		if old := names.PersonName(c.Person.Key); old != "" && old != c.Person.Name {
			return []Field{{"name", old, c.Person.Name}}
		}
	}
	return nil
}

// Fields lists what an update of a group changes, as Person.Fields does; types and parents
// are compared as lists.
func (c *Group) Fields(names Names) []Field {
	if o := c.Old; o != nil {
		types := func(g *record.Group) string {
			var s []string
			for _, t := range g.Types {
				s = append(s, t.Value)
			}
			return strings.Join(s, ", ")
		}
		return fieldChanges([][3]string{
			{"name", o.Name, c.Group.Name}, {"source", o.Source, c.Group.Source},
			{"types", types(o), types(&c.Group)},
			{"parents", strings.Join(o.Parents, ", "), strings.Join(c.Group.Parents, ", ")},
		}, o.Attrs, c.Group.Attrs)
	}
	if names != nil {
		if old := names.GroupName(c.Group.Key); old != "" && old != c.Group.Name {
			return []Field{{"name", old, c.Group.Name}}
		}
	}
	return nil
}

// fieldChanges keeps the fields whose values differ, fixed fields first, then attributes by
// name (an attribute with several values compares them all, joined by ", ").
func fieldChanges(fixed [][3]string, oldAttrs, newAttrs record.Attrs) []Field {
	var out []Field
	for _, f := range fixed {
		if f[1] != f[2] {
			out = append(out, Field{f[0], f[1], f[2]})
		}
	}
	values := func(a record.Attrs) (map[string]string, []string) {
		m := map[string]string{}
		var names []string
		for _, x := range a {
			if _, ok := m[x.Name]; ok {
				m[x.Name] += ", " + x.Value
				continue
			}
			m[x.Name] = x.Value
			names = append(names, x.Name)
		}
		return m, names
	}
	om, on := values(oldAttrs)
	nm, nn := values(newAttrs)
	seen := map[string]bool{}
	var names []string
	for _, n := range append(on, nn...) {
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		if om[n] != nm[n] {
			out = append(out, Field{n, om[n], nm[n]})
		}
	}
	return out
}
