package ims

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/record"
)

// collect is a Handler that keeps every record.
type collect struct {
	persons     []*record.Person
	groups      []*record.Group
	memberships []*record.Membership
	relations   []*record.Relation
}

func (c *collect) Relation(r *record.Relation) error {
	c.relations = append(c.relations, r)
	return nil
}

func (c *collect) Person(p *record.Person) error { c.persons = append(c.persons, p); return nil }
func (c *collect) Group(g *record.Group) error   { c.groups = append(c.groups, g); return nil }
func (c *collect) Membership(m *record.Membership) error {
	c.memberships = append(c.memberships, m)
	return nil
}

// readBytes reads b with opts and returns the records, the result and the error. It reads b
// a second time with the records built aside (Options.Aside, as the importer reads) or not,
// the other way round, and fails the test unless both gave the same records, result and error.
func readBytes(t testing.TB, b []byte, name string, opts Options) (*collect, *Result, error) {
	t.Helper()
	c := &collect{}
	res, err := Read(context.Background(), bytes.NewReader(b), name, opts, c)
	other := opts
	other.Aside = !opts.Aside
	c2 := &collect{}
	res2, err2 := Read(context.Background(), bytes.NewReader(b), name, other, c2)
	if fmt.Sprint(err) != fmt.Sprint(err2) {
		t.Errorf("%s: read with Aside %v: %v; with Aside %v: %v", name, opts.Aside, err, other.Aside, err2)
	}
	if d, d2 := dump(c, res), dump(c2, res2); d != d2 {
		t.Errorf("%s: read with Aside %v:\n%s\nwith Aside %v:\n%s", name, opts.Aside, d, other.Aside, d2)
	}
	return c, res, err
}

func readFile(t testing.TB, path string, opts Options) (*collect, *Result, error) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return readBytes(t, b, path, opts)
}

// dump renders records and result as stable text: the golden form.
func dump(c *collect, res *Result) string {
	var b strings.Builder
	line := func(kind string, pos record.Pos, v any, extra string) {
		j, _ := json.Marshal(v)
		fmt.Fprintf(&b, "%s %d:%d %s%s\n", kind, pos.Line, pos.Column, j, extra)
	}
	for _, p := range c.persons {
		extra := fmt.Sprintf(" recstatus=%d", p.RecStatus)
		if p.Secret != "" {
			extra += " secret=sha256:" + p.Secret[:12]
		}
		line("person", p.Pos, p, extra)
	}
	for _, g := range c.groups {
		line("group", g.Pos, g, fmt.Sprintf(" recstatus=%d", g.RecStatus))
	}
	for _, m := range c.memberships {
		line("membership", m.Pos, m, fmt.Sprintf(" recstatus=%d inactive=%v", m.RecStatus, m.Inactive))
	}
	for _, r := range c.relations {
		line("relation", r.Pos, r, "")
	}
	if res != nil {
		fmt.Fprintf(&b, "counts %v mode %s properties %+v\n", res.Counts, res.Mode, res.Properties)
		for _, w := range res.Warnings {
			fmt.Fprintf(&b, "warning %d:%d %q %s\n", w.Line, w.Column, w.Key, w.Message)
		}
		for _, s := range res.Skipped {
			fmt.Fprintf(&b, "skipped %+v\n", s)
		}
		for _, g := range res.EmptyMemberships {
			fmt.Fprintf(&b, "empty membership %s\n", g)
		}
	}
	return b.String()
}
