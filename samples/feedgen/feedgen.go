// Package feedgen writes large, deterministic IMS Enterprise 1.1 feeds of one school owner, for
// benchmarks and load tests: the same Options always give the same bytes.
//
// A feed holds, in this order, properties, persons (teachers then pupils), groups (the school
// owner, its schools, then classes and courses) and one membership element per class or course.
//
// Layout, all derived from Options:
//   - Groups = 1 school owner (its own parent, as national profiles do) + schools + classes +
//     courses. There is one school per 50 groups (at least one); the rest alternate class, course.
//   - Persons = teachers + pupils, one teacher per 12 persons (at least one). Each school has a
//     block of teachers and a block of pupils.
//   - Each class and course has MembersPerGroup members: one teacher (Instructor, 02) and
//     MembersPerGroup-1 pupils of its school (Learner, 01), capped by the school's pupils.
//
// Variations, each deterministic in Seed:
//   - DropPercent leaves that share of persons, and their memberships, out of the file.
//   - RenamePercent gives that share of persons another family name than a file with
//     RenamePercent 0 gives them (fn changes with it; keys, userids and emails stay).
//   - Night n (1 when 0) is the n-th night of the same school owner: from night 2 on, 0.5 % of
//     the first night's pupil count leave each night (a leaver never comes back) and as many
//     new pupils arrive, each joining classes and courses of its school. Teachers and groups do
//     not churn.
package feedgen

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
)

// Options says what to generate. Persons, Groups and MembersPerGroup of 150000, 20000 and 75
// give ~1.5M memberships and ~300 MB.
type Options struct {
	Persons, Groups, MembersPerGroup int
	Seed                             int64
	DropPercent                      float64 // share of persons (and their memberships) left out: a "broken" night
	RenamePercent                    float64 // share of persons whose family name changes (→ updates)
	Night                            int     // night number: deterministic small churn between nights
}

// Source is the sourcedid source and datasource of every generated record.
const Source = "feedgen"

// ChurnPercent is the share of the first night's pupils that leave, and arrive, each night.
const ChurnPercent = 0.5

const (
	groupsPerSchool  = 50
	personsPerTeach  = 12
	groupsPerNewPupl = 10 // classes and courses a new pupil joins, at most
)

// Independent hash streams, so that drop, rename and churn choose unrelated persons.
const (
	streamDrop uint64 = iota + 1
	streamRename
	streamLeave
	streamGiven
	streamFamily
	streamRenameTo
)

// layout is everything derived from Options.
type layout struct {
	o                      Options
	night                  int
	teachers, pupils       int // first night's counts
	newPupils              int // arrived by this night
	schools                int
	teaching               int // classes + courses
	learners               int // pupils per teaching group (before drops)
	dropP, renameP, leaveP float64
	// newIn maps a teaching group to the new pupils who joined it (few, so a map is fine).
	newIn map[int][]int
}

func newLayout(o Options) (*layout, error) {
	switch {
	case o.Persons < 2:
		return nil, errors.New("feedgen: Persons must be at least 2 (a teacher and a pupil)")
	case o.Groups < 2:
		return nil, errors.New("feedgen: Groups must be at least 2 (the school owner and a school)")
	case o.MembersPerGroup < 0:
		return nil, errors.New("feedgen: MembersPerGroup must not be negative")
	case o.Night < 0:
		return nil, errors.New("feedgen: Night must not be negative")
	case !(o.DropPercent >= 0 && o.DropPercent <= 100):
		return nil, fmt.Errorf("feedgen: DropPercent %v is not within 0..100", o.DropPercent)
	case !(o.RenamePercent >= 0 && o.RenamePercent <= 100):
		return nil, fmt.Errorf("feedgen: RenamePercent %v is not within 0..100", o.RenamePercent)
	}
	l := &layout{o: o, night: max(o.Night, 1)}
	l.teachers = max(1, o.Persons/personsPerTeach)
	l.pupils = o.Persons - l.teachers
	l.schools = min(max(1, o.Groups/groupsPerSchool), o.Groups-1, l.teachers, l.pupils)
	l.teaching = o.Groups - 1 - l.schools
	l.learners = max(0, o.MembersPerGroup-1)
	l.dropP = o.DropPercent / 100
	l.renameP = o.RenamePercent / 100
	perNight := int(float64(l.pupils)*ChurnPercent/100 + 0.5)
	l.leaveP = float64(perNight) / float64(l.pupils) * float64(l.night-1)
	l.newPupils = perNight * (l.night - 1)
	l.newIn = make(map[int][]int)
	if o.MembersPerGroup > 0 {
		for m := range l.newPupils {
			s := m % l.schools
			gs := l.groupsOf(s)
			for r := range min(groupsPerNewPupl, gs) {
				k := (m/l.schools + r) % gs
				t := s + k*l.schools
				l.newIn[t] = append(l.newIn[t], m)
			}
		}
	}
	return l, nil
}

// block returns the first index and the size of school s's share of n things.
func (l *layout) block(n, s int) (first, size int) {
	first = s * n / l.schools
	return first, (s+1)*n/l.schools - first
}

// groupsOf is the number of teaching groups of school s (teaching group t belongs to t % schools).
func (l *layout) groupsOf(s int) int {
	if s >= l.teaching {
		return 0
	}
	return (l.teaching-s-1)/l.schools + 1
}

// u is a uniform number in [0,1) from (seed, stream, i): splitmix64.
func (l *layout) u(stream uint64, i int) float64 {
	return float64(l.h(stream, i)>>11) / (1 << 53)
}

func (l *layout) h(stream uint64, i int) uint64 {
	z := uint64(l.o.Seed)*0x9E3779B97F4A7C15 + stream*0xBF58476D1CE4E5B9 + uint64(i)*0x94D049BB133111EB
	z ^= z >> 30
	z *= 0xBF58476D1CE4E5B9
	z ^= z >> 27
	z *= 0x94D049BB133111EB
	z ^= z >> 31
	return z
}

// Person indexes: teachers are 0..teachers-1, pupils teachers.. (first-night pupils, then new).
func (l *layout) isTeacher(i int) bool { return i < l.teachers }

func (l *layout) present(i int) bool {
	if l.u(streamDrop, i) < l.dropP {
		return false
	}
	// Only first-night pupils leave, so exactly perNight new pupils arrive each night.
	return i >= l.teachers+l.pupils || l.isTeacher(i) || l.u(streamLeave, i) >= l.leaveP
}

// Write streams one feed to w. It buffers at most a few tens of kilobytes.
func Write(w io.Writer, o Options) error {
	l, err := newLayout(o)
	if err != nil {
		return err
	}
	e := &enc{w: w, buf: make([]byte, 0, 1<<16)}
	l.write(e)
	e.flush()
	return e.err
}

// enc appends to a buffer and flushes it to w when full; the first write error sticks.
type enc struct {
	w   io.Writer
	buf []byte
	err error
}

func (e *enc) s(s string) {
	e.buf = append(e.buf, s...)
}

func (e *enc) id(prefix string, n, width int) {
	e.buf = append(e.buf, prefix...)
	var d [20]byte
	b := strconv.AppendInt(d[:0], int64(n), 10)
	for range width - len(b) {
		e.buf = append(e.buf, '0')
	}
	e.buf = append(e.buf, b...)
}

func (e *enc) maybeFlush() {
	if len(e.buf) >= 1<<15 {
		e.flush()
	}
}

func (e *enc) flush() {
	if e.err == nil && len(e.buf) > 0 {
		_, e.err = e.w.Write(e.buf)
	}
	e.buf = e.buf[:0]
}

func (l *layout) personID(e *enc, i int) {
	if l.isTeacher(i) {
		e.id("T", i+1, 6)
	} else {
		e.id("P", i-l.teachers+1, 7)
	}
}

func (l *layout) groupID(e *enc, g int) {
	switch {
	case g == 0:
		e.s("OWNER")
	case g <= l.schools:
		e.id("S", g, 4)
	case (g-l.schools-1)%2 == 0:
		e.id("C", g-l.schools, 6)
	default:
		e.id("K", g-l.schools, 6)
	}
}

func (l *layout) write(e *enc) {
	date := time.Date(2026, 8, 1, 2, 0, 0, 0, time.UTC).AddDate(0, 0, l.night-1)
	e.s(`<?xml version="1.0" encoding="UTF-8"?>
<enterprise>
  <properties>
    <datasource>` + Source + `</datasource>
    <type>full</type>
    <datetime>` + date.Format("2006-01-02T15:04:05") + `</datetime>
  </properties>
`)
	for i := range l.teachers + l.pupils + l.newPupils {
		if l.present(i) {
			l.person(e, i)
			e.maybeFlush()
		}
	}
	for g := range l.o.Groups {
		l.group(e, g)
		e.maybeFlush()
	}
	if l.o.MembersPerGroup > 0 {
		for t := range l.teaching {
			l.membership(e, t)
		}
	}
	e.s("</enterprise>\n")
}

func (l *layout) person(e *enc, i int) {
	given := givenNames[l.h(streamGiven, i)%uint64(len(givenNames))]
	f := l.h(streamFamily, i) % uint64(len(familyNames))
	if l.u(streamRename, i) < l.renameP {
		f = (f + 1 + l.h(streamRenameTo, i)%uint64(len(familyNames)-1)) % uint64(len(familyNames))
	}
	family := familyNames[f]
	e.s("  <person>\n    <sourcedid><source>" + Source + "</source><id>")
	l.personID(e, i)
	e.s("</id></sourcedid>\n    <userid>")
	start := len(e.buf)
	l.personID(e, i)
	e.buf[start] += 'a' - 'A' // t000001, p0000001
	userid := e.buf[start:]
	e.s("</userid>\n    <name><fn>" + given + " " + family + "</fn><n><family>" + family +
		"</family><given>" + given + "</given></n></name>\n    <email>")
	e.buf = append(e.buf, userid...)
	if l.isTeacher(i) {
		e.s("@staff.example.org</email>\n    <institutionrole institutionroletype=\"Faculty\" primaryrole=\"Yes\"/>\n  </person>\n")
	} else {
		e.s("@pupil.example.org</email>\n    <institutionrole institutionroletype=\"Student\" primaryrole=\"Yes\"/>\n  </person>\n")
	}
}

func (l *layout) group(e *enc, g int) {
	e.s("  <group>\n    <sourcedid><source>" + Source + "</source><id>")
	l.groupID(e, g)
	e.s("</id></sourcedid>\n    <grouptype><scheme>" + Source + "</scheme><typevalue level=\"")
	parent := 0
	switch {
	case g == 0:
		e.s("1\">SchoolOwner</typevalue></grouptype>\n    <description><short>Generated school owner</short></description>\n")
	case g <= l.schools:
		e.s("2\">School</typevalue></grouptype>\n    <description><short>")
		e.id("School ", g, 0)
		e.s("</short></description>\n")
	default:
		t := g - l.schools - 1
		parent = 1 + t%l.schools
		kind := "Class"
		if t%2 == 1 {
			kind = "Course"
		}
		e.s("3\">" + kind + "</typevalue></grouptype>\n    <description><short>" + kind + " ")
		e.id("", t+1, 0)
		e.s("</short><long>" + kind + " ")
		e.id("", t+1, 0)
		e.id(" at School ", parent, 0)
		e.s("</long></description>\n")
	}
	e.s("    <relationship relation=\"1\">\n      <sourcedid><source>" + Source + "</source><id>")
	l.groupID(e, parent)
	e.s("</id></sourcedid>\n      <label>")
	if parent == 0 {
		e.s("Generated school owner")
	} else {
		e.id("School ", parent, 0)
	}
	e.s("</label>\n    </relationship>\n  </group>\n")
}

// membership writes teaching group t (group index schools+1+t): its teacher, then its pupils.
func (l *layout) membership(e *enc, t int) {
	s := t % l.schools
	k := t / l.schools // the group's number within its school
	e.s("  <membership>\n    <sourcedid><source>" + Source + "</source><id>")
	l.groupID(e, l.schools+1+t)
	e.s("</id></sourcedid>\n")
	tFirst, tSize := l.block(l.teachers, s)
	if i := tFirst + k%tSize; l.present(i) {
		l.member(e, i, "02")
	}
	pFirst, pSize := l.block(l.pupils, s)
	off := (k * l.learners) % pSize
	for j := range min(l.learners, pSize) {
		if i := l.teachers + pFirst + (off+j)%pSize; l.present(i) {
			l.member(e, i, "01")
		}
		e.maybeFlush()
	}
	for _, m := range l.newIn[t] {
		if i := l.teachers + l.pupils + m; l.present(i) {
			l.member(e, i, "01")
		}
	}
	e.s("  </membership>\n")
	e.maybeFlush()
}

func (l *layout) member(e *enc, i int, role string) {
	e.s("    <member>\n      <sourcedid><source>" + Source + "</source><id>")
	l.personID(e, i)
	e.s("</id></sourcedid>\n      <idtype>1</idtype>\n      <role roletype=\"" + role + "\"><status>1</status></role>\n    </member>\n")
}
