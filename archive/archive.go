// Package archive decides what "gone" means for each kind of object: a person goes to the trash
// can (never hard-deleted by an import), a course is archived when the tenant archives courses,
// and every other group is deleted. The diff asks it; the stores carry out what it decided.
package archive

import (
	"strings"

	"github.com/imsfeed/imsfeed/change"
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
