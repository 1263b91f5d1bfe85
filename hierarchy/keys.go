package hierarchy

import (
	"strings"

	"github.com/imsfeed/imsfeed/record"
)

// CourseKeySep separates the school year from a course's own key in the key it is stored
// under when courses are prefixed with the year (school_year.prefix_course_keys). A school
// year has no colon (config.ValidYear), so the first colon of a stored key ends the year.
const CourseKeySep = ":"

// CourseKey is the key a course whose file (or live request) key is key is stored under in
// school year year: "2026-27:MATH5". The nightly file and the live channels both map keys
// with it (through Keys), so a course has one stored key whichever channel names it.
func CourseKey(year, key string) string { return year + CourseKeySep + key }

// FileKey undoes CourseKey: the year and the course's own key of a stored key, ok false when
// stored is no prefixed course key of year (year "" takes any year).
func FileKey(stored, year string) (string, bool) {
	y, key, ok := strings.Cut(stored, CourseKeySep)
	if !ok || y == "" || (year != "" && y != year) {
		return "", false
	}
	return key, true
}

// Keys maps group keys as a file or a live request names them to the keys they are stored
// under: with a Year, a course's key is CourseKey(Year, key), so the same key next school
// year is a new course and this year's stays archived; every other key is as given. A nil
// *Keys maps nothing. It is not safe for concurrent use.
type Keys struct {
	// Year is the current school year.
	Year string
	// IsCourse says which grouptypes are courses (the tenant's courses.types).
	IsCourse func([]record.GroupType) bool
	// Stored reports whether the tenant's store has a group (active or archived) of this key.
	Stored func(key string) bool
	// file are the groups of the file seen so far: key → whether it is a course.
	file map[string]bool
}

// Keys returns the key mapper of the rules: nil when course keys are not prefixed.
func (r Rules) Keys(stored func(key string) bool) *Keys {
	if r.CourseKeyYear == "" {
		return nil
	}
	if stored == nil {
		stored = func(string) bool { return false }
	}
	return &Keys{Year: r.CourseKeyYear, IsCourse: r.IsCourse, Stored: stored}
}

// See notes a group record of the file (before its key is mapped): whether it is a course
// decides how later records naming its key are mapped. A record going (recstatus 3) says
// nothing of its type and is not noted.
func (k *Keys) See(g *record.Group) {
	if k == nil || g.Gone() {
		return
	}
	if k.file == nil {
		k.file = map[string]bool{}
	}
	k.file[g.Key] = k.IsCourse != nil && k.IsCourse(g.Types)
}

// Own is the stored key of the group record g itself: a course's is prefixed; a record going
// (which need not carry its type) maps as a reference does.
func (k *Keys) Own(g *record.Group) string {
	if k == nil {
		return g.Key
	}
	if g.Gone() {
		key, _ := k.Ref(g.Key)
		return key
	}
	if k.IsCourse != nil && k.IsCourse(g.Types) {
		return CourseKey(k.Year, g.Key)
	}
	return g.Key
}

// Group maps the group record g to its stored key (Own) and its parents to theirs (Ref),
// recomputing its hash when one changed. Call it once the file's groups are all seen.
func (k *Keys) Group(g *record.Group) {
	if k == nil {
		return
	}
	changed := false
	if key := k.Own(g); key != g.Key {
		g.Key, changed = key, true
	}
	for i, p := range g.Parents {
		if key, _ := k.Ref(p); key != p {
			g.Parents[i], changed = key, true
		}
	}
	if changed {
		g.ComputeHash()
	}
}

// Ref is the stored key of a group another record names (a membership's group, a group
// member, a parent): a course of the file or, failing that, a stored course of this year is
// prefixed. known is false when neither the file so far nor the store has the group, either
// way: the caller may wait for the rest of the file (a membership listed before its group).
func (k *Keys) Ref(key string) (stored string, known bool) {
	if k == nil {
		return key, true
	}
	if course, ok := k.file[key]; ok {
		if course {
			return CourseKey(k.Year, key), true
		}
		return key, true
	}
	if p := CourseKey(k.Year, key); k.Stored(p) {
		return p, true
	}
	return key, k.Stored(key)
}

// Membership maps m's group (and its member, when that is a group) to their stored keys,
// recomputing its hash when one changed. When a group it names is not known yet (see Ref), m
// is left as it is and known is false: map it again once the file is read, or Force it.
func (k *Keys) Membership(m *record.Membership) (known bool) { return k.membership(m, false) }

// Force maps m as Membership does, a group still unknown keeping its key (the diff then
// skips the membership with a warning naming it).
func (k *Keys) Force(m *record.Membership) { k.membership(m, true) }

func (k *Keys) membership(m *record.Membership, force bool) bool {
	if k == nil {
		return true
	}
	g, known := k.Ref(m.Group)
	mem := m.Member
	if m.MemberType == record.MemberGroup {
		var ok bool
		mem, ok = k.Ref(m.Member)
		known = known && ok
	}
	if !known && !force {
		return false
	}
	if g != m.Group || mem != m.Member {
		m.Group, m.Member = g, mem
		m.ComputeHash()
	}
	return known
}
