package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/importer"
	"github.com/imsfeed/imsfeed/record"
)

// The readable form of a stored plan (`show RUN --plan`): indented, one field a line, numbers
// first, and without what means nothing to a reader: content hashes (zero for every removal),
// member types on removals, empty lists. `--raw` prints the exact stored bytes instead.
// Relations are listed too: approval applies them. The document is the JSON of
// {tenant, mode, base_version, counts, attention, persons, groups, memberships, relations},
// each list a view of its changes and left out when empty, written a change at a time
// (planPrinter): a test holds the same document made whole (planView).

type personView struct {
	Op     change.Op    `json:"op"`
	Key    string       `json:"key"`
	Source string       `json:"source,omitempty"`
	Name   string       `json:"name,omitempty"`
	Attrs  record.Attrs `json:"attrs,omitempty"`
}

type groupView struct {
	Op      change.Op          `json:"op"`
	Key     string             `json:"key"`
	Source  string             `json:"source,omitempty"`
	Name    string             `json:"name,omitempty"`
	Course  bool               `json:"course,omitempty"`
	Types   []record.GroupType `json:"types,omitempty"`
	Parents []string           `json:"parents,omitempty"`
	Attrs   record.Attrs       `json:"attrs,omitempty"`
}

type membershipView struct {
	Op         change.Op    `json:"op"`
	Group      string       `json:"group"`
	Member     string       `json:"member"`
	Role       string       `json:"role"`
	MemberType string       `json:"member_type,omitempty"` // "person" or "group"
	Cascade    bool         `json:"cascade,omitempty"`
	Attrs      record.Attrs `json:"attrs,omitempty"`
}

type relationView struct {
	Op      change.Op    `json:"op"`
	Person  string       `json:"person"`
	Related string       `json:"related"`
	Type    string       `json:"type"`
	Cascade bool         `json:"cascade,omitempty"`
	Attrs   record.Attrs `json:"attrs,omitempty"`
}

// printPlan writes a held run's stored plan in its readable form, a piece at a time: a plan of
// 500,000 changes (a 74 MB document) is never whole in memory.
func printPlan(ctx context.Context, w io.Writer, im *importer.Importer, id int64) error {
	pp := &planPrinter{w: bufio.NewWriterSize(w, 64<<10)}
	err := im.ReadPlan(ctx, id, pp.head, pp.piece)
	if err == nil {
		err = pp.end()
	}
	if ferr := pp.w.Flush(); err == nil {
		err = ferr
	}
	return err
}

// planPrinter writes the document as printJSON would (two-space indent), the head's fields
// first, then each list of changes opened at its first change and closed before the next list.
type planPrinter struct {
	w    *bufio.Writer
	list string // the list being written, "" before the first
}

func (pp *planPrinter) field(name string, v any, first bool) error {
	if !first {
		pp.w.WriteString(",")
	}
	b, err := json.MarshalIndent(v, "  ", "  ")
	if err != nil {
		return err
	}
	fmt.Fprintf(pp.w, "\n  %q: ", name)
	_, err = pp.w.Write(b)
	return err
}

func (pp *planPrinter) head(p *change.Plan) error {
	pp.w.WriteString("{")
	for i, f := range []struct {
		name string
		v    any
	}{{"tenant", p.Tenant}, {"mode", p.Mode}, {"base_version", p.BaseVersion}, {"counts", p.Counts}} {
		if err := pp.field(f.name, f.v, i == 0); err != nil {
			return err
		}
	}
	if len(p.Attention) > 0 {
		return pp.field("attention", p.Attention, false)
	}
	return nil
}

// change writes one change of list name.
func (pp *planPrinter) change(name string, v any) error {
	if pp.list != name {
		pp.closeList()
		fmt.Fprintf(pp.w, ",\n  %q: [\n    ", name)
		pp.list = name
	} else {
		pp.w.WriteString(",\n    ")
	}
	b, err := json.MarshalIndent(v, "    ", "  ")
	if err != nil {
		return err
	}
	_, err = pp.w.Write(b)
	return err
}

func (pp *planPrinter) closeList() {
	if pp.list != "" {
		pp.w.WriteString("\n  ]")
	}
}

func (pp *planPrinter) end() error {
	pp.closeList()
	_, err := pp.w.WriteString("\n}\n")
	return err
}

func (pp *planPrinter) piece(p *change.Plan) error {
	for _, c := range p.Persons {
		if err := pp.change("persons", personViewOf(c)); err != nil {
			return err
		}
	}
	for _, c := range p.Groups {
		if err := pp.change("groups", groupViewOf(c)); err != nil {
			return err
		}
	}
	for _, c := range p.Memberships {
		if err := pp.change("memberships", membershipViewOf(c)); err != nil {
			return err
		}
	}
	for _, c := range p.Relations {
		if err := pp.change("relations", relationViewOf(c)); err != nil {
			return err
		}
	}
	return nil
}

func personViewOf(c change.Person) personView {
	return personView{Op: c.Op, Key: c.Person.Key, Source: c.Person.Source, Name: c.Person.Name, Attrs: c.Person.Attrs}
}

func groupViewOf(c change.Group) groupView {
	g := c.Group
	return groupView{Op: c.Op, Key: g.Key, Source: g.Source, Name: g.Name, Course: c.Course, Types: g.Types, Parents: g.Parents, Attrs: g.Attrs}
}

func membershipViewOf(c change.Membership) membershipView {
	m := c.Membership
	mv := membershipView{Op: c.Op, Group: m.Group, Member: m.Member, Role: m.Role, Cascade: c.Cascade, Attrs: m.Attrs}
	switch m.MemberType {
	case record.MemberPerson:
		mv.MemberType = "person"
	case record.MemberGroup:
		mv.MemberType = "group"
	}
	return mv
}

func relationViewOf(c change.Relation) relationView {
	r := c.Relation
	return relationView{Op: c.Op, Person: r.Person, Related: r.Related, Type: r.Type, Cascade: c.Cascade, Attrs: r.Attrs}
}
