package config

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/imsfeed/imsfeed/hierarchy"
	"github.com/imsfeed/imsfeed/importer/ims"
	"github.com/imsfeed/imsfeed/record"
)

// Hierarchy is a tenant's placement of groups (hierarchy.Rules without the course parts).
type Hierarchy struct {
	// Unplaced takes the groups with no parent in the file that are not roots.
	Unplaced *hierarchy.Node `yaml:"unplaced"`
	// Place builds nodes from group attributes, first matching rule wins.
	Place []hierarchy.Rule `yaml:"place"`
}

// SchoolYear is the tenant's current school year and how its node is made.
type SchoolYear struct {
	// Current is the school year courses are placed under, e.g. "2026-27", until a rollover
	// approved by an operator makes another current (the store keeps that).
	Current string `yaml:"current"`
	Node    struct {
		// KeyPrefix + the year is the node's key (default "school-year-").
		KeyPrefix string `yaml:"key_prefix"`
		// Name is the node's name; {year} stands for the year (default "School year {year}").
		Name string `yaml:"name"`
	} `yaml:"node"`
	// PrefixCourseKeys stores each course under CourseKey(year, its key), so the same key next
	// school year is a new course and this year's stays in the archive.
	PrefixCourseKeys bool `yaml:"prefix_course_keys"`
}

// YearNode is the node of school year y.
func (s *SchoolYear) YearNode(y string) hierarchy.Node {
	prefix, name := s.Node.KeyPrefix, s.Node.Name
	if prefix == "" {
		prefix = "school-year-"
	}
	if name == "" {
		name = "School year {year}"
	}
	return hierarchy.Node{Key: prefix + y, Name: strings.ReplaceAll(name, "{year}", y)}
}

var schoolYear = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z._-]{0,31}$`)

// ValidYear checks a school year as `current` and `rollover --to` take it.
func ValidYear(y string) error {
	if !schoolYear.MatchString(y) {
		return fmt.Errorf("school year %q: want letters, digits, '.', '-' or '_' (e.g. 2026-27)", y)
	}
	return nil
}

// Placement is the tenant's hierarchy.Rules for school year year ("" means the configured
// current year).
func (t *Tenant) Placement(year string) hierarchy.Rules {
	r := hierarchy.Rules{Unplaced: t.Hierarchy.Unplaced, Place: t.Hierarchy.Place, IsCourse: t.Courses.IsCourse}
	if t.Courses.Archive {
		r.Archive = t.Courses.ArchiveNode
	}
	if t.SchoolYear != nil {
		if year == "" {
			year = t.SchoolYear.Current
		}
		n := t.SchoolYear.YearNode(year)
		r.Year = &n
		if t.SchoolYear.PrefixCourseKeys {
			r.CourseKeyYear = year
		}
	}
	return r
}

// whereMappings are the reader mappings that evaluate the place rules' where XPaths.
func (t *Tenant) whereMappings() []ims.Mapping {
	var out []ims.Mapping
	for i, r := range t.Hierarchy.Place {
		if strings.TrimSpace(r.Where) != "" {
			out = append(out, ims.Mapping{Name: hierarchy.WhereName(i), Type: record.Groups, XPath: r.Where})
		}
	}
	return out
}

func validateHierarchy(t *Tenant, key func(string) string, bad func(string, ...any)) {
	nodes := map[string]string{}
	node := func(what string, n *hierarchy.Node) {
		if n == nil {
			return
		}
		if strings.TrimSpace(n.Key) == "" {
			bad("%s: %s.key is required", key(what), what)
			return
		}
		if other, ok := nodes[n.Key]; ok {
			bad("%s: %s.key %q is also %s's: each node needs its own key", key(what), what, n.Key, other)
		}
		nodes[n.Key] = what
	}
	node("hierarchy.unplaced", t.Hierarchy.Unplaced)
	node("courses.archive_node", t.Courses.ArchiveNode)
	if t.Courses.ArchiveNode != nil && !t.Courses.Archive {
		bad("%s: courses.archive_node is set but courses.archive is off: courses are deleted, not archived", key("courses"))
	}
	for i, r := range t.Hierarchy.Place {
		if len(r.Under) == 0 {
			bad("%s: hierarchy.place[%d].under is required: the attribute whose value is the node's key", key("hierarchy"), i)
		}
		for _, a := range r.Under {
			if strings.TrimSpace(a) == "" {
				bad("%s: hierarchy.place[%d].under: an attribute name is empty", key("hierarchy"), i)
			}
		}
		if len(r.Name) > len(r.Under) {
			bad("%s: hierarchy.place[%d].name names %d attributes, under only %d: a name for each node of the path", key("hierarchy"), i, len(r.Name), len(r.Under))
		}
		if r.Where != "" {
			if err := ims.ValidateMapping(r.Where); err != nil {
				bad("%s: hierarchy.place[%d].where: %v", key("hierarchy"), i, err)
			}
		}
	}
	for typ, tmpl := range t.Courses.Template {
		if strings.TrimSpace(typ) == "" || strings.TrimSpace(tmpl) == "" {
			bad("%s: courses.template: %q: %q: type and template must not be empty", key("courses"), typ, tmpl)
		}
	}
	if y := t.SchoolYear; y != nil {
		if err := ValidYear(y.Current); err != nil {
			bad("%s: school_year.current: %v", key("school_year"), err)
		} else {
			n := y.YearNode(y.Current)
			node("school_year.node", &n)
		}
	}
}
