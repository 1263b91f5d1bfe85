package ims

import (
	"encoding/xml"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/antchfx/xmlquery"
	"github.com/antchfx/xpath"

	"github.com/imsfeed/imsfeed/record"
)

// Tenant vendor-extension mappings: an XPath per named attribute, evaluated with xmlquery on
// the record's own subtree. The subtree is rebuilt as an xmlquery tree only for record types
// that have mappings, so tenants without mappings pay nothing.

// The person mappings with these names set the preferred first and last name (the attributes
// the live channels store them in) instead of an "x." attribute; a value found replaces the one
// <nickname> gave.
const (
	PreferredFirstMapping = "preferred_first"
	PreferredLastMapping  = "preferred_last"
)

type compiledMapping struct {
	attr string // "x.<Name>"
	expr *xpath.Expr
}

func compileMappings(ms []Mapping) ([record.NumTypes][]compiledMapping, error) {
	var out [record.NumTypes][]compiledMapping
	for _, m := range ms {
		if m.Name == "" || strings.TrimSpace(m.XPath) == "" {
			return out, fmt.Errorf("mapping %q: name and xpath are required", m.Name)
		}
		if m.Type < record.Persons || m.Type > record.Relations {
			return out, fmt.Errorf("mapping %q: unknown record type %d", m.Name, m.Type)
		}
		if err := ValidateMapping(m.XPath); err != nil {
			return out, fmt.Errorf("mapping %q: %v", m.Name, err)
		}
		e, err := xpath.Compile(m.XPath)
		if err != nil {
			return out, fmt.Errorf("mapping %q: xpath %q: %v", m.Name, m.XPath, err)
		}
		attr := "x." + m.Name
		if m.Type == record.Persons {
			// Two names map onto the preferred names (they win over <nickname>).
			switch m.Name {
			case PreferredFirstMapping:
				attr = record.PreferredFirst
			case PreferredLastMapping:
				attr = record.PreferredLast
			}
		}
		if m.Type == record.Relations {
			attr = m.Name // the relation's type, e.g. "guardian"
		}
		out[m.Type] = append(out[m.Type], compiledMapping{attr: attr, expr: e})
	}
	return out, nil
}

// mapped evaluates the mappings of type t on record node n. For a membership, n is the
// <membership>, and only its member m with the one role r is part of the tree.
func (p *builder) mapped(a *record.Attrs, t record.Type, n, m, r int32) {
	if len(p.maps[t]) == 0 {
		return
	}
	doc := &xmlquery.Node{Type: xmlquery.DocumentNode}
	top := p.xq(n, m, r)
	xmlquery.AddChild(doc, top)
	for _, cm := range p.maps[t] {
		v := evaluate(cm.expr, top)
		if v != "" && (cm.attr == record.PreferredFirst || cm.attr == record.PreferredLast) {
			a.Del(cm.attr)
		}
		a.Add(cm.attr, v)
	}
}

// related evaluates the tenant's relation mappings on person node n: each yields the keys of
// related persons (every node it selects, or one string), of the mapping's type.
func (p *builder) related(n int32) []record.RelationKey {
	if len(p.maps[record.Relations]) == 0 {
		return nil
	}
	doc := &xmlquery.Node{Type: xmlquery.DocumentNode}
	top := p.xq(n, -1, -1)
	xmlquery.AddChild(doc, top)
	var out []record.RelationKey
	for _, cm := range p.maps[record.Relations] {
		add := func(s string) {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, record.RelationKey{Related: s, Type: cm.attr})
			}
		}
		if it, ok := cm.expr.Evaluate(xmlquery.CreateXPathNavigator(top)).(*xpath.NodeIterator); ok {
			for it.MoveNext() {
				add(it.Current().Value())
			}
			continue
		}
		add(evaluate(cm.expr, top))
	}
	return out
}

func evaluate(e *xpath.Expr, top *xmlquery.Node) string {
	switch v := e.Evaluate(xmlquery.CreateXPathNavigator(top)).(type) {
	case *xpath.NodeIterator:
		if v.MoveNext() {
			return strings.TrimSpace(v.Current().Value())
		}
	case string:
		return strings.TrimSpace(v)
	case float64:
		if !math.IsNaN(v) {
			return strconv.FormatFloat(v, 'f', -1, 64)
		}
	case bool:
		return strconv.FormatBool(v)
	}
	return ""
}

// xq copies node n's subtree into an xmlquery tree; keepMember/keepRole (when >= 0) drop the
// other <member> and <role> siblings.
func (p *builder) xq(n, keepMember, keepRole int32) *xmlquery.Node {
	nd := &p.nodes[n]
	x := &xmlquery.Node{Type: xmlquery.ElementNode, Data: nd.local, LineNumber: int(nd.line)}
	for _, at := range p.attrs[nd.a0:nd.a1] {
		if SecretName(at.local) {
			continue // no mapping can select a password
		}
		x.Attr = append(x.Attr, xmlquery.Attr{Name: xml.Name{Local: at.local}, Value: string(p.text[at.v0:at.v1])})
	}
	if nd.t1 > nd.t0 {
		xmlquery.AddChild(x, &xmlquery.Node{Type: xmlquery.TextNode, Data: string(p.text[nd.t0:nd.t1])})
	}
	for c := nd.first; c >= 0; c = p.nodes[c].next {
		switch l := p.nodes[c].local; {
		case l == "member" && keepMember >= 0 && c != keepMember:
			continue
		case l == "role" && keepRole >= 0 && n == keepMember && c != keepRole:
			continue
		}
		xmlquery.AddChild(x, p.xq(c, keepMember, keepRole))
	}
	return x
}

// attrRef finds the attribute names an XPath names: @name and attribute::name.
var attrRef = regexp.MustCompile(`(?:@|attribute\s*::)\s*([^\s/\[\]()=,|!<>*@]+)`)

// ValidateMapping refuses an XPath that selects an attribute named like a password: a mapped
// value is stored, and passwords never are.
func ValidateMapping(xp string) error {
	for _, m := range attrRef.FindAllStringSubmatch(xp, -1) {
		name := m[1]
		if i := strings.LastIndexByte(name, ':'); i >= 0 {
			name = name[i+1:]
		}
		if SecretName(name) {
			return fmt.Errorf("xpath %q selects attribute %q, which holds a password: passwords are never stored", clip(xp, 80), clip(m[1], quoteMax))
		}
	}
	return nil
}
