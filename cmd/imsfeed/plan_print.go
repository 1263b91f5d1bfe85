package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
)

// The readable form of a stored plan (`show RUN --plan`): indented, one field a line, numbers
// first, and without what means nothing to a reader: content hashes (zero for every removal),
// member types on removals, empty lists. `--raw` prints the exact stored bytes instead.

type planView struct {
	Tenant      string           `json:"tenant"`
	Mode        string           `json:"mode"`
	BaseVersion int64            `json:"base_version"`
	Counts      change.Counts    `json:"counts"`
	Attention   []change.Notice  `json:"attention,omitempty"`
	Persons     []personView     `json:"persons,omitempty"`
	Groups      []groupView      `json:"groups,omitempty"`
	Memberships []membershipView `json:"memberships,omitempty"`
}

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

// printPlan writes a stored plan in its readable form.
func printPlan(w io.Writer, data []byte) error {
	var p change.Plan
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(&p); err != nil {
		return fmt.Errorf("decode stored plan: %w", err)
	}
	v := planView{Tenant: p.Tenant, Mode: p.Mode, BaseVersion: p.BaseVersion, Counts: p.Counts, Attention: p.Attention}
	for _, c := range p.Persons {
		v.Persons = append(v.Persons, personView{Op: c.Op, Key: c.Person.Key, Source: c.Person.Source, Name: c.Person.Name, Attrs: c.Person.Attrs})
	}
	for _, c := range p.Groups {
		g := c.Group
		v.Groups = append(v.Groups, groupView{Op: c.Op, Key: g.Key, Source: g.Source, Name: g.Name, Course: c.Course, Types: g.Types, Parents: g.Parents, Attrs: g.Attrs})
	}
	for _, c := range p.Memberships {
		m := c.Membership
		mv := membershipView{Op: c.Op, Group: m.Group, Member: m.Member, Role: m.Role, Cascade: c.Cascade, Attrs: m.Attrs}
		switch m.MemberType {
		case record.MemberPerson:
			mv.MemberType = "person"
		case record.MemberGroup:
			mv.MemberType = "group"
		}
		v.Memberships = append(v.Memberships, mv)
	}
	return printJSON(w, v)
}
