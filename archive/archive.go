// Package archive decides what "gone" means for each kind of object: a person goes to the trash
// can (never hard-deleted by an import), a course is archived when the tenant archives courses,
// and every other group is deleted. The diff asks it; the stores carry out what it decided.
package archive

import (
	"strings"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/hierarchy"
	"github.com/imsfeed/imsfeed/record"
)

// DefaultCourseTypes are the grouptype typevalues read as courses when a tenant names none.
var DefaultCourseTypes = []string{"Course", "CourseSection", "CourseGroup", "CourseOffering"}

// CoursePolicy is a tenant's reading of which groups are courses and what happens to them.
type CoursePolicy struct {
	// Types lists grouptype typevalues that make a group a course, matched case-insensitively.
	// An entry "scheme/typevalue" also requires the scheme.
	Types []string `yaml:"types"`
	// Archive: a course that leaves the feed is archived (true, the default) or deleted.
	Archive bool `yaml:"archive"`
	// ArchiveNode, when set, is the imsfeed-owned group archived courses are moved under
	// (instead of being left without a parent). An archive restore gives them back their
	// parents from the file.
	ArchiveNode *hierarchy.Node `yaml:"archive_node"`
	// Template maps a course grouptype typevalue to the course template a new course of that
	// type starts from on the platform; it is stored on the course when it is created.
	Template map[string]string `yaml:"template"`
}

// TemplateFor is the template of a new course with these grouptypes ("" when none is named):
// the first type with a template, matched case-insensitively.
func (c CoursePolicy) TemplateFor(types []record.GroupType) string {
	for _, t := range types {
		for typ, tmpl := range c.Template {
			if strings.EqualFold(strings.TrimSpace(t.Value), typ) {
				return tmpl
			}
		}
	}
	return ""
}

// ArchiveParents are the parents an archived course is left with: the archive node, or none.
func (c CoursePolicy) ArchiveParents() []string {
	if c.ArchiveNode == nil {
		return nil
	}
	return []string{c.ArchiveNode.Key}
}

// DefaultCoursePolicy archives groups of the default course types.
func DefaultCoursePolicy() CoursePolicy {
	return CoursePolicy{Types: append([]string(nil), DefaultCourseTypes...), Archive: true}
}

// IsCourse reports whether a group with these grouptypes is a course.
func (c CoursePolicy) IsCourse(types []record.GroupType) bool {
	for _, t := range types {
		for _, want := range c.Types {
			scheme, value, hasScheme := strings.Cut(want, "/")
			if !hasScheme {
				value, scheme = want, ""
			}
			if strings.EqualFold(strings.TrimSpace(t.Value), value) &&
				(!hasScheme || strings.EqualFold(strings.TrimSpace(t.Scheme), scheme)) {
				return true
			}
		}
	}
	return false
}

// PersonGone is what happens to a person who left the feed: the trash can (change.Delete on a
// person means trashed; the stores never hard-delete a person during an import).
func PersonGone() change.Op { return change.Delete }

// GroupGone is what happens to a group that left the feed: courses are archived when the tenant
// archives courses; everything else is deleted with its synced memberships.
func GroupGone(course bool, c CoursePolicy) change.Op {
	if course && c.Archive {
		return change.Archive
	}
	return change.Delete
}
