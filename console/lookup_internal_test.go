package console

import (
	"testing"

	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/hierarchy"
	"github.com/imsfeed/imsfeed/record"
)

// TestNodeKindNamesImsfeedsOwnNodes: a group page says which of imsfeed's own nodes a parent
// is, by the tenant's settings; a school owner's group is none, even with a key like a node's.
func TestNodeKindNamesImsfeedsOwnNodes(t *testing.T) {
	tn := config.DefaultTenant("t")
	tn.Hierarchy.Unplaced = &hierarchy.Node{Key: "imsfeed-unplaced"}
	tn.Courses.ArchiveNode = &hierarchy.Node{Key: "imsfeed-archive"}
	tn.SchoolYear = &config.SchoolYear{Current: "2026-27"}
	withRules := tn
	withRules.Hierarchy.Place = []hierarchy.Rule{{Under: hierarchy.Path{"x.school"}}}
	bare := config.DefaultTenant("t")
	own := func(key string) *record.Group { return &record.Group{Key: key, Source: hierarchy.Source} }
	for _, c := range []struct {
		t    *config.Tenant
		g    *record.Group
		want string
	}{
		{&tn, &record.Group{Key: "imsfeed-unplaced"}, "unplaced node"}, // not stored yet
		{&tn, own("imsfeed-archive"), "archive node"},
		{&tn, own("school-year-2025-26"), "school-year node"}, // a year before the current
		{&tn, &record.Group{Key: "school-year-2026-27", Source: "SIS"}, ""},
		{&tn, &record.Group{Key: "NSD", Source: "SIS"}, ""},
		{&withRules, own("NORTH"), "rule node"},
		{&bare, own("old-node"), "imsfeed's own node"},
	} {
		if got := nodeKind(c.t, c.g); got != c.want {
			t.Errorf("%s (source %q): %q, want %q", c.g.Key, c.g.Source, got, c.want)
		}
	}
}
