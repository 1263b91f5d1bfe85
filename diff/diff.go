// Package diff works out what tonight's file changes in a tenant's state: inserts, updates,
// deletes, restores and archivals of persons, groups, memberships and relations between persons. It is pure: records and the
// stored state in, a change.Plan out; no I/O, no clock.
//
// A Differ is fed records one at a time as the reader streams them (it satisfies the reader's
// handler), so an unchanged record costs a map lookup and is never kept. Finish then decides what
// is gone (snapshot mode), what cascades, and what a skipped record protects.
package diff

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"sort"
	"strings"

	"github.com/imsfeed/imsfeed/archive"
	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
)

// Mode is how absence is read: in a snapshot, an active object missing from the file is gone;
// in an event (delta) file, absence changes nothing.
type Mode string

const (
	Snapshot Mode = "snapshot"
	Event    Mode = "event"
)

// Options are the tenant's choices the diff needs.
type Options struct {
	// Courses decides which groups are courses (archived rather than deleted).
	Courses archive.CoursePolicy
	// Handover, when set, takes each membership the diff takes as new, as it takes it, in
	// file order, and the diff keeps none of them (a store writes an initial load while the
	// file is read): the plan counts them in Early and lists only the first ListHanded less
	// its person and group changes (what a report shows). Finish returns ErrHandover when the
	// plan would not be exactly the memberships handed over (one names a group or person
	// that is not active after the run, or one may be listed again as gone): the caller
	// then plans again without handing over. A key handed over twice is for the receiver to
	// refuse (the primary key). Only for a state without memberships (and
	// without State.Stored: a diff against stored memberships given so hands none over).
	Handover func(*record.Membership)
	// HandoverPerson, likewise, takes each person the diff takes as new, and the diff keeps
	// of them only a 64-bit hash of each key (for the memberships and relations that name
	// them, and duplicates): the plan counts them in Early and lists only the first
	// ListHanded, before the memberships listed. A person key listed again (as active or
	// gone), or two keys of one hash, make Finish return ErrHandover. Only for a state
	// without persons (with some, it is not used).
	HandoverPerson func(*record.Person)
	ListHanded     int
	// Scratch, when set, makes the file where a diff against stored memberships given as a
	// source (change.State.Stored) keeps the file's memberships beyond SpillBudget until
	// Finish compares them: called once, at the first need (a small tenant never needs it).
	// The caller removes the file after the run. Without it they all stay in memory.
	Scratch func() (Scratch, error)
	// SpillBudget is how many bytes of those memberships stay in memory (0: 16 MiB).
	SpillBudget int
}

// ErrHandover is Finish's answer when the records handed over (Options.Handover,
// Options.HandoverPerson) are not exactly the plan's: plan again without handing them over.
var ErrHandover = errors.New("the records handed over while reading are not the plan's")

// Skipped names a record the reader skipped: its stored counterpart must be kept. For a
// membership whose role was unreadable, Group and Member are set and every stored role of that
// pair is kept.
type Skipped struct {
	Type   record.Type
	Key    string
	Group  string
	Member string
}

// Finish carries what the reader learned only at the end of the file.
type Finish struct {
	Mode    Mode
	Skipped []Skipped
	// EmptyMemberships are groups whose <membership> listed no member: their stored
	// memberships are kept (an empty list in a snapshot must not silently empty a course).
	EmptyMemberships []string
}

// Differ accumulates one file's changes against one tenant's state. It takes ownership of the
// state (it marks what the file mentions) and is not safe for concurrent use.
type Differ struct {
	st   *change.State
	opts Options

	persons     map[string]*record.Person // changed persons, by key
	personOrder []string                  // their keys in file order (each once)
	personGone  map[string]record.Pos     // recstatus 3
	groups      map[string]*record.Group  // every non-gone group in the file (few; needed for the hierarchy)...
	unchanged   map[string]fileGroup      // ...but those a stored one has unchanged, which are here
	groupOrder  []string
	groupGone   map[string]record.Pos
	fresh       freshGroups // an initial load's groups, instead of groups and groupOrder
	// Memberships are most of a file: compared as they come against a set of the stored ones
	// (mem), or, against stored ones given as a source (change.State.Stored), spilled by their
	// group's bucket and compared at Finish partition by partition (spill.go).
	mem     memberTable
	spill   *spiller
	handed  *handedMemberships // with Options.Handover, instead of mem.fresh
	handedP *handedPersons     // with Options.HandoverPerson, instead of persons
	// Relations are few (a pupil's carers): stored ones that changed, and new ones, by key
	// with their file order.
	relChanged      map[record.RelationKey]*record.Relation
	relChangedOrder []record.RelationKey
	relFresh        map[record.RelationKey]*record.Relation
	relFreshOrder   []record.RelationKey

	warnings []record.Warning
	notices  []change.Notice
	// archivedSeen counts file memberships of archived courses, per course, for the notice.
	archivedSeen map[string]int
	// dup is the first key the file lists twice, and dups how many times that happened; in a
	// snapshot it fails the run at Finish (an event file may legitimately repeat a key).
	// seq numbers the records in the order the diff takes them: a spilled membership's
	// duplicate is found at Finish and must still be the first one (dupSeq) in that order.
	dup    *DuplicateError
	dups   int
	seq    int64
	dupSeq int64
	// skipped counts, per type, the records Finish skipped as unusable (see Skipped).
	skipped change.PerType
}

// Skipped returns, per record type, how many records Finish skipped with a warning (a
// membership whose group or member is unknown or going, a group in a hierarchy cycle). The
// reader's own skips are not included.
func (d *Differ) Skipped() change.PerType { return d.skipped }

// DuplicateError is a snapshot that lists one key of a type twice: the run fails, nothing
// changes. The diff finds duplicates with the per-key marks it keeps anyway, so the reader
// need not hold a set of every key.
type DuplicateError struct {
	Type      record.Type
	Key       string
	Pos       record.Pos
	FirstLine int // where the file first lists the key (0: not known)
	Count     int // how many repeated keys the file has in all
}

func (e *DuplicateError) Error() string {
	return fmt.Sprintf("line %d:%d: record %s: %s", e.Pos.Line, e.Pos.Column, e.Key, e.Problem())
}

// Problem says what is wrong, without the position (the caller adds the file name to that).
func (e *DuplicateError) Problem() string {
	what := strings.TrimSuffix(e.Type.String(), "s")
	msg := fmt.Sprintf("duplicate %s key: a snapshot file must list each %s once", what, what)
	if e.FirstLine > 0 {
		msg += fmt.Sprintf("; first at line %d", e.FirstLine)
	}
	if e.Count > 1 {
		msg += fmt.Sprintf(" (%d repeated keys in the file)", e.Count)
	}
	return msg
}

func (d *Differ) duplicate(t record.Type, key string, pos record.Pos, first int, seq int64) {
	d.dups++
	if d.dup == nil || seq < d.dupSeq {
		d.dup, d.dupSeq = &DuplicateError{Type: t, Key: key, Pos: pos, FirstLine: first}, seq
	}
}

// memberTable is the per-key bookkeeping of the file's memberships against the stored ones:
// the whole file's against st.Memberships, or one spill partition's against its stored
// entries (part; seqs then keeps each record's place in the diff's order).
type memberTable struct {
	part         *partStored
	seqs         bool
	changed      map[record.MembershipKey]*record.Membership // stored ones that changed (few)
	changedOrder []record.MembershipKey
	changedSeq   []int64
	// New ones (all of them on an initial load) in file order, found again by a 64-bit key
	// hash: far smaller than a map keyed by three strings.
	fresh      newMemberships
	freshSeq   []int64
	memberGone map[record.MembershipKey]int32 // recstatus 3 or status 0, with its line
}

func newMemberTable() memberTable {
	return memberTable{changed: map[record.MembershipKey]*record.Membership{}, fresh: newNewMemberships(), memberGone: map[record.MembershipKey]int32{}}
}

func (t *memberTable) addFresh(m *record.Membership, seq int64) {
	t.fresh.add(m)
	if t.seqs {
		t.freshSeq = append(t.freshSeq, seq)
	}
}

// New starts a diff against st. Only Group, ExpectGroups, Membership and Finish read st.Groups
// and st.Memberships: a caller may set them after New, before the first of those.
func New(st *change.State, opts Options) *Differ {
	d := &Differ{
		st:           st,
		opts:         opts,
		persons:      map[string]*record.Person{},
		personGone:   map[string]record.Pos{},
		groups:       map[string]*record.Group{},
		unchanged:    map[string]fileGroup{},
		groupGone:    map[string]record.Pos{},
		mem:          newMemberTable(),
		relChanged:   map[record.RelationKey]*record.Relation{},
		relFresh:     map[record.RelationKey]*record.Relation{},
		archivedSeen: map[string]int{},
		handed:       newHanded(opts),
		handedP:      newHandedPersons(st, opts),
	}
	if d.handed != nil {
		d.handed.persons = d.handedP
	}
	return d
}

// Person takes one person record.
func (d *Differ) Person(p *record.Person) error {
	d.seq++
	st, stored := d.markPersonSeen(p.Key, line32(p.Pos))
	if stored {
		if st.Seen {
			d.duplicate(record.Persons, p.Key, p.Pos, int(st.SeenLine), d.seq)
		}
	} else if first, again := d.persons[p.Key]; again {
		d.duplicate(record.Persons, p.Key, p.Pos, first.Pos.Line, d.seq)
	} else if first, again := d.personGone[p.Key]; again {
		d.duplicate(record.Persons, p.Key, p.Pos, first.Line, d.seq)
	}
	if h := d.handedP; h.has(p.Key) {
		// Listed again, as active or gone (or another key of the same hash): the ordinary
		// way says which, and what the plan is then.
		h.doubt = true
		return nil
	}
	if p.Gone() {
		if _, listed := d.persons[p.Key]; listed && d.handed != nil {
			d.handed.doubt = true // its memberships handed over may have taken it as active
		}
		d.personGone[p.Key] = p.Pos
		delete(d.persons, p.Key) // event file: added then deleted
		return nil
	}
	delete(d.personGone, p.Key)
	if h := d.handedP; h != nil {
		d.handed.flush() // its lookups as they would have been before this person
		h.take(p)
		d.opts.HandoverPerson(p)
		return nil
	}
	if stored && !st.Trashed && st.Hash == p.Hash {
		delete(d.persons, p.Key)
		return nil
	}
	d.persons[p.Key] = p
	d.personOrder = append(d.personOrder, p.Key) // repeats are dropped at Finish
	return nil
}

// storedPerson is a stored person's state, with the diff's scratch marks (with
// State.StoredPersons, no name).
func (d *Differ) storedPerson(key string) (change.PersonState, bool) {
	if x := d.st.StoredPersons; x != nil {
		return x.Get(key)
	}
	st, ok := d.st.Persons[key]
	return st, ok
}

// markPersonSeen marks a stored person as seen at line, unless it was already, and returns
// its state as it was before.
func (d *Differ) markPersonSeen(key string, line int32) (change.PersonState, bool) {
	if x := d.st.StoredPersons; x != nil {
		return x.MarkSeen(key, line)
	}
	st, ok := d.st.Persons[key]
	if ok && !st.Seen {
		m := st
		m.Seen, m.SeenLine = true, line
		d.st.Persons[key] = m
	}
	return st, ok
}

// Group takes one group record.
func (d *Differ) Group(g *record.Group) error {
	d.seq++
	if first, again := d.fileGroup(g.Key); again {
		d.duplicate(record.Groups, g.Key, g.Pos, first.pos.Line, d.seq)
	} else if first, gone := d.groupGone[g.Key]; gone {
		d.duplicate(record.Groups, g.Key, g.Pos, first.Line, d.seq)
	}
	if st, ok := d.st.Groups[g.Key]; ok && !st.Seen {
		st.Seen, st.SeenLine = true, line32(g.Pos)
		d.st.Groups[g.Key] = st
	}
	if g.Gone() {
		d.groupGone[g.Key] = g.Pos
		delete(d.groups, g.Key)
		delete(d.unchanged, g.Key)
		d.fresh.drop(g.Key)
		return nil
	}
	delete(d.groupGone, g.Key)
	if len(d.st.Groups) == 0 {
		d.fresh.put(d.insert(g))
		return nil
	}
	if st, ok := d.st.Groups[g.Key]; ok && !st.Archived && st.Hash == g.Hash && st.Course == d.opts.Courses.IsCourse(g.Types) {
		// Unchanged: it makes no change, and Finish reads no more of it than its place and
		// parents (for the hierarchy): the record is not kept (a 1 GB feed's 64,000 groups
		// took about 40 MB as records).
		delete(d.groups, g.Key)
		d.unchanged[g.Key] = fileGroup{pos: g.Pos, parents: g.Parents}
	} else {
		delete(d.unchanged, g.Key)
		d.groups[g.Key] = g
	}
	d.groupOrder = append(d.groupOrder, g.Key) // repeats are dropped at Finish
	return nil
}

// ExpectGroups says, before the first group, how many group records are coming (a hint): an
// initial load keeps its groups as the plan's inserts in one array of that size, not in its
// regrowths.
func (d *Differ) ExpectGroups(n int) {
	if len(d.st.Groups) == 0 && d.fresh.list == nil {
		d.fresh.list = make([]change.Group, 0, n)
	}
}

// insert is the plan's insert of group g, which the tenant does not have.
func (d *Differ) insert(g *record.Group) change.Group {
	c := change.Group{Op: change.Insert, Group: *g, Course: d.opts.Courses.IsCourse(g.Types)}
	if c.Course {
		c.Group.Template = d.opts.Courses.TemplateFor(g.Types)
	}
	return c
}

// freshGroups are the file's groups when the tenant has none (an initial load): every one the
// file lists is an insert, kept from the start as the plan's change, in the order first listed,
// and Finish hands the list itself to the plan. A group is then never held twice (a record,
// and its copy in the plan: 13 MB of the 1 GB feed's 64,000 groups at the initial load's peak).
type freshGroups struct {
	list []change.Group   // a group the file then lists as gone (an event file) has Op 0
	at   map[string]int32 // its place in list (-1: left out of the plan)
	n    int              // how many in list are not gone
}

// put takes group c, in the place of its key's earlier record if the file listed it before.
func (f *freshGroups) put(c change.Group) {
	if f.at == nil {
		f.at = map[string]int32{}
	}
	if i, ok := f.at[c.Group.Key]; ok {
		if f.list[i].Op == 0 {
			f.n++
		}
		f.list[i] = c
		return
	}
	f.at[c.Group.Key] = int32(len(f.list))
	f.list = append(f.list, c)
	f.n++
}

// drop marks key's group gone (listed, then listed as gone).
func (f *freshGroups) drop(key string) {
	if i, ok := f.at[key]; ok && f.list[i].Op != 0 {
		f.list[i] = change.Group{Group: record.Group{Key: key}}
		f.n--
	}
}

// get is key's group, unless the file has none, lists it as gone, or plan left it out.
func (f *freshGroups) get(key string) (*record.Group, bool) {
	if i, ok := f.at[key]; ok && i >= 0 && f.list[i].Op != 0 {
		return &f.list[i].Group, true
	}
	return nil, false
}

// each visits the groups not gone.
func (f *freshGroups) each(fn func(*record.Group)) {
	for i := range f.list {
		if f.list[i].Op != 0 {
			fn(&f.list[i].Group)
		}
	}
}

// plan returns the inserts, in order, less those skip names, in the list's own array: the
// plan's from then on, which the list goes on reading (get answers no for a group left out).
func (f *freshGroups) plan(skip func(key string) bool) []change.Group {
	out := f.list[:0]
	for i := range f.list {
		c := f.list[i]
		switch {
		case c.Op == 0:
			delete(f.at, c.Group.Key)
		case skip(c.Group.Key):
			f.at[c.Group.Key] = -1
		default:
			f.at[c.Group.Key] = int32(len(out))
			out = append(out, c)
		}
	}
	clear(f.list[len(out):]) // what is left there is no longer the plan's
	f.list = out
	if len(out) == 0 {
		return nil // as the ordinary way's plan without groups
	}
	return out
}

// has reports whether the file has group key (not as gone), in the plan or left out of it.
func (f *freshGroups) has(key string) bool {
	i, ok := f.at[key]
	return ok && (i < 0 || f.list[i].Op != 0)
}

// inPlan stands in Finish for a file's group the plan has copied: the rest of Finish asks only
// whether the file has it, and the record itself (an initial load's 64,000 of the 1 GB feed:
// 12 MB beside their copies) is let go.
var inPlan = &record.Group{}

// fileGroup is what the diff keeps of a group of the file that a stored one has unchanged.
type fileGroup struct {
	pos     record.Pos
	parents []string
}

// fileGroup is the file's group of key, if the file has it (not as gone).
func (d *Differ) fileGroup(key string) (fileGroup, bool) {
	if g, ok := d.fresh.get(key); ok {
		return fileGroup{pos: g.Pos, parents: g.Parents}, true
	}
	if g, ok := d.groups[key]; ok {
		return fileGroup{pos: g.Pos, parents: g.Parents}, true
	}
	g, ok := d.unchanged[key]
	return g, ok
}

// Membership takes one member × role. Against stored memberships given as a source
// (change.State.Stored) it only keeps the record for Finish (spill.go).
func (d *Differ) Membership(m *record.Membership) error {
	d.seq++
	if d.st.Stored != nil {
		return d.spillMembership(m, d.seq)
	}
	d.membership(&d.mem, m, d.seq)
	return nil
}

// membership compares one record with the stored membership of its key in t: the whole of
// the memberships, or one spill partition.
func (d *Differ) membership(t *memberTable, m *record.Membership, seq int64) {
	k := m.MembershipKey
	if g, ok := d.st.Groups[k.Group]; ok && g.Archived {
		// Archived courses take no synced memberships; the course's notice counts them.
		d.archivedSeen[k.Group]++
		return
	}
	var st change.MembershipState
	var ok bool
	if t.part != nil {
		st, ok = t.part.markSeen(k, line32(m.Pos))
	} else {
		st, ok = d.st.Memberships.MarkSeen(k, line32(m.Pos))
	}
	if ok {
		if st.Seen {
			d.duplicate(record.Memberships, k.String(), m.Pos, int(st.SeenLine), seq)
		}
		if m.Gone() {
			t.memberGone[k] = line32(m.Pos)
			delete(t.changed, k)
			return
		}
		delete(t.memberGone, k)
		if st.Manual && st.Hash != (record.Hash{}) {
			// A membership an archival turned manual keeps the feed's hash (the platform's own
			// have none). Its course is active again (an archived one returned above): restored,
			// so the file hands the membership back to the feed, as an insert.
			delete(t.changed, k)
			t.addFresh(m, seq)
			return
		}
		if st.Manual || st.Hash == m.Hash {
			delete(t.changed, k)
			return
		}
		if _, again := t.changed[k]; !again {
			t.changedOrder = append(t.changedOrder, k)
			if t.seqs {
				t.changedSeq = append(t.changedSeq, seq)
			}
		}
		t.changed[k] = m
		return
	}
	// A membership the store does not have.
	if i, ok := t.fresh.find(k); ok {
		d.duplicate(record.Memberships, k.String(), m.Pos, t.fresh.at(i).Pos.Line, seq)
		t.fresh.replace(i, m) // an event file may change its mind; a snapshot fails at Finish
		return
	}
	if first, ok := t.memberGone[k]; ok {
		d.duplicate(record.Memberships, k.String(), m.Pos, int(first), seq)
		delete(t.memberGone, k)
	}
	if m.Gone() {
		if d.handed != nil && d.handed.maybe(k) {
			d.handed.doubt = true // perhaps handed over before: listed twice
		}
		t.memberGone[k] = line32(m.Pos)
		return
	}
	if d.handed != nil {
		listed := false
		if m.MemberType != record.MemberGroup {
			_, listed = d.persons[m.Member] // else take asks d.handedP
		}
		d.handed.take(m, len(d.persons)+d.handedP.inPlan()+len(d.groups)+len(d.unchanged)+d.fresh.n, listed)
		d.opts.Handover(m)
		return
	}
	t.addFresh(m, seq)
}

// Relation takes one relation a person's record names. Relations have no recstatus of their
// own: a person going takes its relations with it (Finish cascades them), and in a snapshot a
// stored relation that no person's record names any more is gone.
func (d *Differ) Relation(r *record.Relation) error {
	d.seq++
	k := r.RelationKey
	if st, ok := d.st.Relations[k]; ok {
		if !st.Seen {
			st.Seen, st.SeenLine = true, line32(r.Pos)
			d.st.Relations[k] = st
		}
		if st.Hash == r.Hash {
			delete(d.relChanged, k)
			return nil
		}
		if _, again := d.relChanged[k]; !again {
			d.relChangedOrder = append(d.relChangedOrder, k)
		}
		d.relChanged[k] = r
		return nil
	}
	if _, again := d.relFresh[k]; !again {
		d.relFreshOrder = append(d.relFreshOrder, k)
	}
	d.relFresh[k] = r
	return nil
}

// Finish decides the plan. Warnings are the record-level problems the diff found (the record was
// skipped and its stored counterpart kept). A snapshot with a repeated key is a *DuplicateError.
// Against stored memberships given as a source (change.State.Stored) it reads them here; an
// error of theirs is ErrStored, and no plan.
func (d *Differ) Finish(f Finish) (*change.Plan, []record.Warning, error) {
	plan, gone, warnings, err := d.FinishApart(f)
	if err != nil {
		return nil, nil, err
	}
	if err := gone.AppendTo(plan); err != nil {
		return nil, nil, err
	}
	return plan, warnings, nil
}

// FinishApart is Finish with the plan's removals of memberships and of persons (to the trash
// can) kept apart, compactly: the plan lists the file's membership and person changes, and the
// removals (diff.Removed) come after them, as Finish lists them; its counts count them all. A
// broken night's membership removals are millions, 128 bytes each as changes, about 15 here;
// its persons trashed hundreds of thousands, 144 bytes each as changes, about 30 here.
func (d *Differ) FinishApart(f Finish) (*change.Plan, *Removed, []record.Warning, error) {
	plan, gone, warnings, err := d.finish(f)
	if err != nil {
		return nil, nil, nil, err
	}
	return plan, &Removed{gone}, warnings, nil
}

func (d *Differ) finish(f Finish) (*change.Plan, *removals, []record.Warning, error) {
	// The stored counts, read here rather than in New: the state's memberships may arrive
	// after New (they load while the file's persons are read), and the diff changes only the
	// scratch marks, which the counts do not read.
	before := d.st.Active()
	snapshot := f.Mode != Event
	spilled := d.st.Stored != nil
	if err := d.spill.flushAll(); err != nil {
		return nil, nil, nil, err
	}
	if h := d.handedP; h != nil && h.doubt {
		// Before the duplicates: a person listed twice is not counted among them here, and
		// the ordinary way reports the file's first duplicate, whichever it is.
		return nil, nil, nil, ErrHandover
	}
	// (Spilled memberships' duplicates are found below, and one of them may be the first.)
	if snapshot && d.dup != nil && !spilled {
		d.dup.Count = d.dups
		return nil, nil, nil, d.dup
	}
	plan := &change.Plan{Tenant: d.st.Tenant, Mode: string(f.Mode), BaseVersion: d.st.Version}
	if f.Mode == "" {
		plan.Mode = string(Snapshot)
	}

	keep := newKeepSet(f)

	// Groups first: memberships and the hierarchy depend on which groups exist after the run.
	groupAfter := d.groupsAfter(snapshot, keep)
	skipped := d.skipped
	d.checkCycles(groupAfter)

	personActiveAfter := func(key string) bool {
		if p, ok := d.persons[key]; ok && p != nil {
			return true
		}
		if d.handedP.has(key) {
			return true // listed as active, never again (else Finish answered ErrHandover)
		}
		st, ok := d.storedPerson(key)
		if !ok || st.Trashed {
			return false
		}
		if _, gone := d.personGone[key]; gone {
			return keep.person(key)
		}
		return !snapshot || st.Seen || keep.person(key)
	}

	// (Room for the changed persons, not for a share of the stored ones and every group of
	// the file: an unchanged night of the 1 GB feed held 38 MB of empty room here.)
	personChanges := make([]change.Person, 0, len(d.persons))
	var groupChanges []change.Group

	// Inserts, updates and restores, in file order.
	if h := d.handedP; h != nil {
		// Listed for reports: the first ones, as many as the CSV has room for; persons come
		// first in the plan.
		personChanges = slices.Grow(personChanges, h.listed)
		h.head.each(func(p record.Person) {
			personChanges = append(personChanges, change.Person{Op: change.Insert, Person: p})
		})
		plan.Early[record.Persons] = h.n - h.listed
		h.head = personHead{}
	}
	listed := make(map[string]bool, len(d.persons))
	for _, key := range d.personOrder {
		p, ok := d.persons[key]
		if !ok || listed[key] {
			continue
		}
		listed[key] = true
		op := change.Insert
		if st, ok := d.storedPerson(p.Key); ok {
			op = change.Update
			if st.Trashed {
				op = change.Restore
			}
		}
		personChanges = append(personChanges, change.Person{Op: op, Person: *p})
	}
	clear(listed)
	if len(d.fresh.list) > 0 {
		// An initial load: the groups are the plan's inserts already, in file order.
		groupChanges = d.fresh.plan(func(key string) bool { return groupAfter.at(key).skip })
	}
	for _, key := range d.groupOrder {
		g, ok := d.groups[key]
		if !ok || listed[key] || groupAfter.at(key).skip {
			continue
		}
		listed[key] = true
		course := d.opts.Courses.IsCourse(g.Types)
		st, exists := d.st.Groups[g.Key]
		switch {
		case exists && st.Archived:
			// A course that reappears stays archived; an operator may restore it.
		case !exists:
			groupChanges = append(groupChanges, d.insert(g))
			d.groups[key] = inPlan
		case st.Hash != g.Hash || st.Course != course:
			groupChanges = append(groupChanges, change.Group{Op: change.Update, Group: *g, Course: course})
			d.groups[key] = inPlan
		}
	}

	// Removals of persons and groups (listed after the inserts and updates, below): the stored
	// memberships' fate depends on them.
	listedPersons := len(personChanges)
	trashed, err := d.personsGone(personActiveAfter)
	if err != nil {
		return nil, nil, nil, err
	}
	removedGroup, groupsGone := d.groupsGone(groupAfter)

	var memberChanges []change.Membership
	gone := &removals{}
	// An update or insert whose group or member is not active after the run is skipped (with
	// its warning).
	addValid := func(op change.Op, m *record.Membership) {
		if d.membershipValid(m, groupAfter, personActiveAfter) {
			memberChanges = append(memberChanges, change.Membership{Op: op, Membership: *m})
		}
	}
	if spilled {
		c, err := d.compareSpilled(snapshot, keep, trashed, removedGroup)
		if err != nil {
			return nil, nil, nil, err
		}
		if snapshot && d.dup != nil {
			d.skipped = skipped
			d.dup.Count = d.dups
			return nil, nil, nil, d.dup
		}
		before[record.Memberships] = c.before
		memberChanges = make([]change.Membership, 0, len(c.updates)+len(c.inserts))
		for i := range c.updates {
			addValid(change.Update, &c.updates[i].m)
		}
		for i := range c.inserts {
			addValid(change.Insert, &c.inserts[i].m)
		}
		gone = &c.removals
		plan.RemovalBase = c.base
	} else {
		t := &d.mem
		memberChanges = make([]change.Membership, 0, len(t.changed)+t.fresh.len())
		for _, k := range t.changedOrder {
			if m, ok := t.changed[k]; ok {
				addValid(change.Update, m)
			}
		}
		t.fresh.each(func(_ int32, m *record.Membership) { addValid(change.Insert, m) })
		if h := d.handed; h != nil {
			if h.doubt || !h.valid(groupAfter, personActiveAfter) {
				return nil, nil, nil, ErrHandover
			}
			// Listed for reports: what the CSV has room for after the persons and groups.
			keep := min(h.listed, max(0, d.opts.ListHanded-listedPersons-len(groupChanges)))
			memberChanges = slices.Grow(memberChanges, keep)
			left := keep
			for _, c := range h.head {
				for i := range c[:min(len(c), left)] {
					memberChanges = append(memberChanges, change.Membership{Op: change.Insert, Membership: c[i]})
				}
				left -= min(len(c), left)
			}
			plan.Early[record.Memberships] = h.n - keep
			h.head = nil
		}
	}

	// Reappeared archived courses, reported once each.
	for _, key := range sortedKeys(d.groups) {
		if st, ok := d.st.Groups[key]; ok && st.Archived {
			msg := fmt.Sprintf("archived course %q is in the file again; it stays archived (restore it with `imsfeed archive restore`)", key)
			if n := d.archivedSeen[key]; n > 0 {
				msg += fmt.Sprintf("; %d of its memberships in the file were not imported", n)
			}
			d.notices = append(d.notices, change.Notice{Kind: change.NoticeReappearedCourse, Key: key, Line: d.groups[key].Pos.Line, Message: msg})
		}
	}

	// Removals: persons to the trash can (after the persons' other changes already),
	// groups archived or deleted, memberships deleted.
	groupChanges = append(groupChanges, groupsGone...)
	d.reportOrphans(removedGroup, groupAfter)

	// Stored synced memberships: gone from the file, or cascaded from their person or group.
	if !spilled {
		for k, st := range d.st.Memberships.All() {
			if r, ok := d.removal(&d.mem, k, st, snapshot, keep, trashed, removedGroup); ok {
				gone.add(r)
			}
		}
	}
	// After the file's updates and inserts (less those cascaded away), sorted by key.
	memberChanges, err = gone.dropRemoved(memberChanges)
	if err != nil {
		return nil, nil, nil, err
	}

	relationChanges := d.relations(snapshot, keep, trashed, personActiveAfter)

	d.notices = append(d.notices, keep.keptNotices(d)...)

	plan.Persons, plan.Groups, plan.Memberships, plan.Relations = personChanges, groupChanges, memberChanges, relationChanges
	plan.Attention = d.notices
	plan.Counts = change.Tally(plan, before)
	gone.count(&plan.Counts)
	plan.Counts.Count(record.Persons, trashed.op, trashed.len())
	gone.persons = trashed
	return plan, gone, d.warnings, nil
}

// personsGone returns the stored persons that go to the trash can, sorted by key, compactly
// (gonePersons): the plan's person changes after changes. With State.StoredPersons it reads
// them from their source (an error of its is ErrStored).
func (d *Differ) personsGone(activeAfter func(string) bool) (*gonePersons, error) {
	each := change.PersonList{Persons: d.st.Persons}.Each
	if x := d.st.StoredPersons; x != nil {
		each = func(_ map[string]bool, fn func(string, change.PersonState) error) error { return x.EachOnce(fn) }
	}
	gone := &gonePersons{op: archive.PersonGone()} // each key once (the persons' source gives each once, a map has each once)
	err := each(nil, func(key string, st change.PersonState) error {
		if st.Trashed || activeAfter(key) {
			return nil
		}
		if _, changed := d.persons[key]; !changed {
			gone.add(key, st.Name)
		}
		return nil
	})
	if err != nil {
		return nil, &storedError{"stored persons", err}
	}
	gone.sort()
	return gone, nil
}

// groupsGone returns the stored groups that go (archived or deleted), and their changes.
func (d *Differ) groupsGone(after *groupsAfter) (map[string]change.Op, []change.Group) {
	removed := map[string]change.Op{}
	var out []change.Group
	for _, key := range sortedKeys(d.st.Groups) {
		st := d.st.Groups[key]
		ga := after.at(key)
		if st.Archived || ga.active {
			continue
		}
		op := archive.GroupGone(st.Course, d.opts.Courses)
		removed[key] = op
		c := change.Group{Op: op, Group: record.Group{Key: key, Name: st.Name}, Course: st.Course}
		if op == change.Archive {
			c.Group.Parents = d.opts.Courses.ArchiveParents() // the archive node, or none
		}
		out = append(out, c)
	}
	return removed, out
}

// removal decides what becomes of stored membership k once the file is read (t holds what the
// file said of it): removed, as gone or cascaded from its person or group, or not.
func (d *Differ) removal(t *memberTable, k record.MembershipKey, st change.MembershipState, snapshot bool, keep *keepSet,
	trashed *gonePersons, removedGroup map[string]change.Op) (change.Membership, bool) {
	if st.Manual {
		return change.Membership{}, false
	}
	cascade := change.Membership{Op: change.Delete, Membership: record.Membership{MembershipKey: k}, Cascade: true}
	if _, changed := t.changed[k]; changed {
		// The file has a new version of it, but its person or group may still be going.
		if op, ok := removedGroup[k.Group]; ok {
			delete(t.changed, k)
			return membershipRemoval(k, op), true
		}
		if st.MemberType == record.MemberPerson && trashed.has(k.Member) {
			return cascade, true
		}
		return change.Membership{}, false
	}
	if op, ok := removedGroup[k.Group]; ok {
		return membershipRemoval(k, op), true
	}
	if st.MemberType == record.MemberPerson && trashed.has(k.Member) {
		return cascade, true
	}
	if st.MemberType == record.MemberGroup && removedGroup[k.Member] != 0 {
		return cascade, true
	}
	_, goneInFile := t.memberGone[k]
	gone := goneInFile || (snapshot && !st.Seen)
	if gone && !keep.membership(k) {
		return change.Membership{Op: change.Delete, Membership: record.Membership{MembershipKey: k}}, true
	}
	return change.Membership{}, false
}

// relations decides the relation changes once the persons' fate is known: updates and inserts
// in file order (a relation naming a person who is not active after the run is skipped with a
// warning; its stored counterpart, if any, is kept), then removals: every relation of a person
// going to the trash can, either way (a cascade), and in a snapshot every stored relation the
// file no longer names, unless a skipped record may have named it.
func (d *Differ) relations(snapshot bool, keep *keepSet, trashed *gonePersons, personActive func(string) bool) []change.Relation {
	var out []change.Relation
	add := func(op change.Op, r *record.Relation) {
		if trashed.has(r.Person) || trashed.has(r.Related) || !d.relationValid(r, personActive) {
			return
		}
		out = append(out, change.Relation{Op: op, Relation: *r})
	}
	for _, k := range d.relChangedOrder {
		if r, ok := d.relChanged[k]; ok {
			add(change.Update, r)
		}
	}
	for _, k := range d.relFreshOrder {
		add(change.Insert, d.relFresh[k])
	}
	var removals []change.Relation
	for k, st := range d.st.Relations {
		switch {
		case trashed.has(k.Person) || trashed.has(k.Related):
			removals = append(removals, change.Relation{Op: change.Delete, Relation: record.Relation{RelationKey: k}, Cascade: true})
		case snapshot && !st.Seen && !keep.relation(k):
			removals = append(removals, change.Relation{Op: change.Delete, Relation: record.Relation{RelationKey: k}})
		}
	}
	sort.Slice(removals, func(i, j int) bool {
		a, b := removals[i].Relation.RelationKey, removals[j].Relation.RelationKey
		if a.Person != b.Person {
			return a.Person < b.Person
		}
		if a.Related != b.Related {
			return a.Related < b.Related
		}
		return a.Type < b.Type
	})
	return append(out, removals...)
}

func (d *Differ) relationValid(r *record.Relation, personActive func(string) bool) bool {
	for _, p := range [...]struct{ key, what string }{{r.Person, "person"}, {r.Related, "related person"}} {
		if personActive(p.key) {
			continue
		}
		var msg string
		st, known := d.storedPerson(p.key)
		switch {
		case known && st.Trashed:
			msg = fmt.Sprintf("%s %q is in the trash can and not in the file; relation skipped", p.what, p.key)
		case known || d.persons[p.key] != nil:
			msg = fmt.Sprintf("%s %q is removed by this import; relation skipped", p.what, p.key)
		default:
			msg = fmt.Sprintf("%s %q is unknown to both the file and the store; relation skipped", p.what, p.key)
		}
		if _, stored := d.st.Relations[r.RelationKey]; stored {
			msg += ", stored relation kept"
		}
		d.skipped[record.Relations]++
		d.warnings = append(d.warnings, record.Warning{Line: r.Pos.Line, Column: r.Pos.Column, Key: r.RelationKey.String(), Message: msg, Kind: record.WarnSkipped})
		return false
	}
	return true
}

func membershipRemoval(k record.MembershipKey, groupOp change.Op) change.Membership {
	if groupOp == change.Archive {
		return change.Membership{Op: change.Manualize, Membership: record.Membership{MembershipKey: k}}
	}
	return change.Membership{Op: change.Delete, Membership: record.Membership{MembershipKey: k}, Cascade: true}
}

// groupInfo is a group's place after the run. (One a group of the tenant, in a map held
// through Finish: its fields are packed.)
type groupInfo struct {
	parents   []string // parents after the run
	line, col int32    // the file's record, if inFile
	active    bool     // exists and is not archived after the run
	skip      bool     // a file record skipped for a problem (its stored counterpart is kept)
	inFile    bool     // a group of the file
}

func fileInfo(parents []string, pos record.Pos) groupInfo {
	return groupInfo{active: true, parents: parents, line: line32(pos), col: int32(min(pos.Column, 1<<31-1)), inFile: true}
}

// groupsAfter is every group's place after the run, by key: the stored groups' and a
// re-import's file groups' in a map; an initial load's file groups are read from its list
// (freshGroups: all active), unless the map has them too (skipped ones). The map would hold
// them once more (8 MB for the 1 GB feed's 64,000).
type groupsAfter struct {
	m     map[string]groupInfo
	fresh *freshGroups
}

func (a *groupsAfter) get(key string) (groupInfo, bool) {
	if gi, ok := a.m[key]; ok {
		return gi, true
	}
	if g, ok := a.fresh.get(key); ok {
		return fileInfo(g.Parents, g.Pos), true
	}
	return groupInfo{}, false
}

// at is key's place (no group: not active, no parents).
func (a *groupsAfter) at(key string) groupInfo {
	gi, _ := a.get(key)
	return gi
}

func (a *groupsAfter) set(key string, gi groupInfo) { a.m[key] = gi }

func (a *groupsAfter) len() int { return len(a.m) + a.fresh.n }

// sortedKeys are every group's key, sorted.
func (a *groupsAfter) sortedKeys() []string {
	keys := make([]string, 0, a.len())
	for k := range a.m {
		keys = append(keys, k)
	}
	a.fresh.each(func(g *record.Group) {
		if _, ok := a.m[g.Key]; !ok {
			keys = append(keys, g.Key)
		}
	})
	sort.Strings(keys)
	return keys
}

func (d *Differ) groupsAfter(snapshot bool, keep *keepSet) *groupsAfter {
	// (Mostly the same keys: sized for the sum, the 1 GB feed's 64,000 groups took 20 MB.)
	after := make(map[string]groupInfo, max(len(d.st.Groups), len(d.groups)+len(d.unchanged)))
	for key, st := range d.st.Groups {
		if st.Archived {
			continue
		}
		active := true
		if _, gone := d.groupGone[key]; gone && !keep.group(key) {
			active = false
		} else if snapshot && !st.Seen && !keep.group(key) {
			active = false
		}
		after[key] = groupInfo{active: active, parents: st.Parents}
	}
	for key, g := range d.groups {
		if st, ok := d.st.Groups[key]; ok && st.Archived {
			continue
		}
		after[key] = fileInfo(g.Parents, g.Pos)
	}
	for key, g := range d.unchanged { // (never an archived one)
		after[key] = fileInfo(g.parents, g.pos)
	}
	// What the rest of Finish needs of the file's unchanged groups is in after now: a 1 GB
	// feed's 64,000 took 6 MB more through the comparison of the memberships.
	d.unchanged = nil
	return &groupsAfter{m: after, fresh: &d.fresh}
}

// checkCycles marks the file groups of every parent cycle as skipped, with a warning. A group
// that is its own parent is a root, not a cycle (the reader already dropped that link).
func (d *Differ) checkCycles(after *groupsAfter) {
	const (
		unvisited = iota
		inStack
		done
	)
	state := make(map[string]int, after.len())
	var stack []string
	var visit func(key string)
	visit = func(key string) {
		state[key] = inStack
		stack = append(stack, key)
		for _, p := range after.at(key).parents {
			pi, ok := after.get(p)
			if !ok || !pi.active {
				continue
			}
			switch state[p] {
			case unvisited:
				visit(p)
			case inStack:
				i := len(stack) - 1
				for stack[i] != p {
					i--
				}
				cycle := append(append([]string{}, stack[i:]...), p)
				for _, k := range stack[i:] {
					gi := after.at(k)
					if gi.skip {
						continue
					}
					if gi.inFile {
						gi.skip = true
						after.set(k, gi)
						d.skipped[record.Groups]++
						d.warnings = append(d.warnings, record.Warning{Line: int(gi.line), Column: int(gi.col), Key: k, Kind: record.WarnSkipped,
							Message: "group hierarchy cycle " + strings.Join(cycle, " → ") + "; group skipped, stored group kept"})
					}
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[key] = done
	}
	for _, key := range after.sortedKeys() {
		if state[key] == unvisited && after.at(key).active {
			visit(key)
		}
	}
	// A skipped file group keeps its stored counterpart as it was; a new one does not exist.
	// (Only the map has skipped ones.)
	for key, gi := range after.m {
		if !gi.skip {
			continue
		}
		if st, ok := d.st.Groups[key]; ok {
			after.m[key] = groupInfo{active: true, parents: st.Parents, skip: true}
		} else {
			after.m[key] = groupInfo{skip: true}
		}
	}
}

func (d *Differ) membershipValid(m *record.Membership, groups *groupsAfter, personActive func(string) bool) bool {
	warn := func(msg string) bool {
		d.skipped[record.Memberships]++
		d.warnings = append(d.warnings, record.Warning{Line: m.Pos.Line, Column: m.Pos.Column, Key: m.MembershipKey.String(), Message: msg, Kind: record.WarnSkipped})
		return false
	}
	if gi, ok := groups.get(m.Group); !ok || !gi.active {
		if _, known := d.st.Groups[m.Group]; known || d.groups[m.Group] != nil || d.fresh.has(m.Group) { // (an unchanged one is stored)
			return warn(fmt.Sprintf("group %q is not active after this import; membership skipped", m.Group))
		}
		return warn(fmt.Sprintf("group %q is unknown to both the file and the store; membership skipped", m.Group))
	}
	switch m.MemberType {
	case record.MemberGroup:
		if gi, ok := groups.get(m.Member); !ok || !gi.active {
			return warn(fmt.Sprintf("member group %q is unknown or not active; membership skipped", m.Member))
		}
	default:
		if !personActive(m.Member) {
			st, ok := d.storedPerson(m.Member)
			if ok && st.Trashed {
				return warn(fmt.Sprintf("person %q is in the trash can and not in the file; membership skipped", m.Member))
			}
			if ok {
				return warn(fmt.Sprintf("person %q is removed by this import; membership skipped", m.Member))
			}
			return warn(fmt.Sprintf("person %q is unknown to both the file and the store; membership skipped", m.Member))
		}
	}
	return true
}

// reportOrphans notes groups that lose their only remaining parent in this run.
func (d *Differ) reportOrphans(removed map[string]change.Op, after *groupsAfter) {
	if len(removed) == 0 {
		return
	}
	for _, key := range after.sortedKeys() {
		gi := after.at(key)
		if !gi.active || len(gi.parents) == 0 {
			continue
		}
		left := 0
		var lost []string
		for _, p := range gi.parents {
			if _, gone := removed[p]; gone {
				lost = append(lost, p)
			} else if pi, ok := after.get(p); ok && pi.active {
				left++
			}
		}
		if len(lost) > 0 && left == 0 {
			d.notices = append(d.notices, change.Notice{Kind: change.NoticeOrphanedGroup, Key: key, Line: int(gi.line),
				Message: fmt.Sprintf("group %q lost its parent %s and has no parent left", key, strings.Join(lost, ", "))})
		}
	}
}

// keepSet answers "does a skipped record protect this stored object?".
type keepSet struct {
	persons, groups map[string]bool
	pairs           map[[2]string]bool // (group, member) of a membership with an unreadable role
	memberships     map[record.MembershipKey]bool
	groupMembers    map[string]bool // groups whose memberships are all kept
	relationsOf     map[string]bool // persons whose stored relations are all kept
	skipped         []Skipped
	empty           []string
}

func newKeepSet(f Finish) *keepSet {
	k := &keepSet{persons: map[string]bool{}, groups: map[string]bool{}, pairs: map[[2]string]bool{},
		memberships: map[record.MembershipKey]bool{}, groupMembers: map[string]bool{}, relationsOf: map[string]bool{}, skipped: f.Skipped, empty: f.EmptyMemberships}
	for _, s := range f.Skipped {
		switch s.Type {
		case record.Persons:
			if s.Key != "" {
				k.persons[s.Key] = true
			}
		case record.Groups:
			if s.Key != "" {
				k.groups[s.Key] = true
				k.groupMembers[s.Key] = true
			}
		case record.Memberships:
			if s.Group != "" && s.Member != "" {
				k.pairs[[2]string{s.Group, s.Member}] = true
			} else if s.Group != "" {
				k.groupMembers[s.Group] = true
			}
		case record.Relations:
			if s.Key != "" {
				k.relationsOf[s.Key] = true
			}
		}
	}
	for _, g := range f.EmptyMemberships {
		k.groupMembers[g] = true
	}
	return k
}

func (k *keepSet) person(key string) bool { return k.persons[key] }
func (k *keepSet) group(key string) bool  { return k.groups[key] }
func (k *keepSet) relation(r record.RelationKey) bool {
	return k.persons[r.Person] || k.relationsOf[r.Person]
}
func (k *keepSet) membership(m record.MembershipKey) bool {
	return k.memberships[m] || k.groupMembers[m.Group] || k.pairs[[2]string{m.Group, m.Member}] || k.persons[m.Member]
}

// keptNotices tells the reader of the mail which stored objects were kept because their record
// in the file could not be used.
func (k *keepSet) keptNotices(d *Differ) []change.Notice {
	var out []change.Notice
	for _, s := range k.skipped {
		switch s.Type {
		case record.Persons:
			if _, ok := d.storedPerson(s.Key); ok {
				out = append(out, change.Notice{Kind: change.NoticeKeptRecord, Key: s.Key, Message: fmt.Sprintf("person %q was skipped in the file; the stored person is kept unchanged", s.Key)})
			}
		case record.Groups:
			if _, ok := d.st.Groups[s.Key]; ok {
				out = append(out, change.Notice{Kind: change.NoticeKeptRecord, Key: s.Key, Message: fmt.Sprintf("group %q was skipped in the file; the stored group and its memberships are kept unchanged", s.Key)})
			}
		}
	}
	for _, g := range k.empty {
		out = append(out, change.Notice{Kind: change.NoticeKeptRecord, Key: g, Message: fmt.Sprintf("the file lists group %q with no members; its stored memberships are kept (an empty list never empties a group)", g)})
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// newMemberships holds the memberships a file adds, in file order, each findable by key. The
// index maps a 64-bit hash of the key to its place; the rare second key of one hash goes in
// overflow, so lookups are exact. The records are kept by value in chunks (the reader's own
// copy is garbage at once), and each releases a chunk as soon as the plan has taken it: an
// initial load never holds every new membership twice, once here and once in the plan.
type newMemberships struct {
	seed     maphash.Seed
	chunks   [][]record.Membership // every chunk but the last holds freshChunk
	n        int
	index    map[uint64]int32
	overflow map[record.MembershipKey]int32
	removed  map[int32]bool // an event file that deletes what it added
}

// freshChunk is how many memberships a chunk holds (about 2 MB).
const freshChunk = 1 << 14

func newNewMemberships() newMemberships {
	return newMemberships{seed: maphash.MakeSeed(), index: map[uint64]int32{}}
}

func (n *newMemberships) hash(k record.MembershipKey) uint64 { return keyHash(n.seed, k) }

// keyHash is a membership key's 64-bit hash under seed (the three strings, each ended by a 0).
func keyHash(seed maphash.Seed, k record.MembershipKey) uint64 {
	var h maphash.Hash
	h.SetSeed(seed)
	h.WriteString(k.Group)
	h.WriteByte(0)
	h.WriteString(k.Member)
	h.WriteByte(0)
	h.WriteString(k.Role)
	return h.Sum64()
}

func (n *newMemberships) at(i int32) *record.Membership {
	return &n.chunks[i/freshChunk][i%freshChunk]
}

func (n *newMemberships) find(k record.MembershipKey) (int32, bool) {
	if i, ok := n.index[n.hash(k)]; ok && n.at(i).MembershipKey == k {
		return i, true
	}
	i, ok := n.overflow[k]
	return i, ok
}

func (n *newMemberships) add(m *record.Membership) {
	i := int32(n.n)
	if last := len(n.chunks) - 1; last < 0 || len(n.chunks[last]) == freshChunk {
		// The first chunk grows as needed (most files add few); later ones are made full size.
		size := freshChunk
		if last < 0 {
			size = 64
		}
		n.chunks = append(n.chunks, make([]record.Membership, 0, size))
	}
	last := len(n.chunks) - 1
	n.chunks[last] = append(n.chunks[last], *m)
	n.n++
	h := n.hash(m.MembershipKey)
	if _, taken := n.index[h]; !taken {
		n.index[h] = i
		return
	}
	if n.overflow == nil {
		n.overflow = map[record.MembershipKey]int32{}
	}
	n.overflow[m.MembershipKey] = i
}

// replace puts a later record of the same key in place i, or marks it removed when gone.
func (n *newMemberships) replace(i int32, m *record.Membership) {
	if m.Gone() {
		if n.removed == nil {
			n.removed = map[int32]bool{}
		}
		n.removed[i] = true
		return
	}
	*n.at(i) = *m
	delete(n.removed, i)
}

func (n *newMemberships) len() int { return n.n }

// reset empties it for the next spill partition.
func (n *newMemberships) reset() {
	n.chunks, n.n, n.overflow, n.removed = nil, 0, nil, nil
	if n.index == nil {
		n.index = map[uint64]int32{}
	} else {
		clear(n.index)
	}
}

// each visits the memberships in file order, with their places, and releases each chunk once
// visited, so the plan being built from them does not hold the file's records twice.
func (n *newMemberships) each(f func(int32, *record.Membership)) {
	n.index, n.overflow = nil, nil
	for c, chunk := range n.chunks {
		for j := range chunk {
			if i := int32(c*freshChunk + j); !n.removed[i] {
				f(i, &chunk[j])
			}
		}
		n.chunks[c] = nil
	}
	n.chunks, n.n, n.removed = nil, 0, nil
}

// line32 is a position's line as the state's scratch field keeps it.
func line32(p record.Pos) int32 { return int32(min(p.Line, 1<<31-1)) }

// handedMemberships is what the diff keeps of the memberships it hands over (Options.Handover):
// how many, the first few for reports, the groups and the members not listed before them
// that they name (far fewer than memberships: Finish checks that each is active after the
// run), and a Bloom filter of their
// keys, so that a gone record of a key perhaps handed over sends the caller back to the
// ordinary way.
type handedMemberships struct {
	n       int
	head    [][]record.Membership // in chunks: a growing slice of up to 100,000 copied itself over and over
	listed  int                   // how many head holds
	limit   int
	groups  map[string]struct{}
	group   string // the last one put in groups
	members map[handedMember]struct{}
	seed    maphash.Seed
	bloom   []uint64
	doubt   bool

	// What take leaves to flush: the bloom bits and the lookups in persons of the last few
	// memberships, done together, so that the processor overlaps their memory accesses (each
	// one a cache miss in tables of megabytes) instead of waiting for each in turn.
	pending []handedLookup
	persons *handedPersons // where a person member is looked up (nil: nowhere)
}

// handedLookup is what flush does for one membership taken.
type handedLookup struct {
	key    uint64 // keyHash of the membership's key: its bloom bits
	person uint64 // its member's hash in persons, when it is to be looked up there (0: not)
	add    bool   // member goes into members, unless the lookup finds it
	member handedMember
}

// handedPending is how many memberships' lookups wait for flush.
const handedPending = 64

type handedMember struct {
	key   string
	group bool
}

// handedBloomBits is the Bloom filter's size (4 MiB, four bits a key, all four in one block of
// 512 bits, a cache line: one memory access a key where four bits anywhere took four): a gone
// record of a key never handed over is taken for one perhaps handed over about once in 1,150
// with 1.5 million memberships handed over, once in 28 with 4.7 million. Such a false
// "perhaps" costs reading the file again, never a wrong plan.
const (
	handedBloomBits  = 1 << 25
	handedBloomBlock = 512 // bits
)

func newHanded(opts Options) *handedMemberships {
	if opts.Handover == nil {
		return nil
	}
	return &handedMemberships{limit: opts.ListHanded, groups: map[string]struct{}{}, members: map[handedMember]struct{}{},
		seed: maphash.MakeSeed(), bloom: make([]uint64, handedBloomBits/64), pending: make([]handedLookup, 0, handedPending)}
}

// bloomBits are the Bloom filter's block of a key of hash x (keyHash: its first word in bloom)
// and the four bits in it: the block from the hash's low bits, each bit from nine more.
func bloomBits(x uint64) (block int, bits [4]uint) {
	block = int(x&(handedBloomBits/handedBloomBlock-1)) * (handedBloomBlock / 64)
	x >>= 16 // log2(handedBloomBits / handedBloomBlock)
	for i := range bits {
		bits[i] = uint(x & (handedBloomBlock - 1))
		x >>= 9
	}
	return block, bits
}

// take counts a membership handed over; listedBefore is how many persons and groups the plan
// may list before it, and person whether its member is a person the file listed as active
// before it (and so active after the run unless the file lists it as gone later: Person then
// sets doubt), which need not be checked again; when person is false and the member is a
// person, whether it is one handed over is asked of h.persons (at the next flush, before
// persons changes).
func (h *handedMemberships) take(m *record.Membership, listedBefore int, person bool) {
	h.n++
	if h.listed < h.limit-listedBefore {
		if len(h.head) == 0 || len(h.head[len(h.head)-1]) == cap(h.head[len(h.head)-1]) {
			h.head = append(h.head, make([]record.Membership, 0, 1024))
		}
		h.head[len(h.head)-1] = append(h.head[len(h.head)-1], *m)
		h.listed++
	}
	if m.Group != h.group || len(h.groups) == 0 { // a file lists a group's memberships together
		h.groups[m.Group] = struct{}{}
		h.group = m.Group
	}
	l := handedLookup{key: keyHash(h.seed, m.MembershipKey)}
	if !person {
		l.add, l.member = true, handedMember{m.Member, m.MemberType == record.MemberGroup}
		if m.MemberType != record.MemberGroup && h.persons != nil && h.persons.n > 0 {
			l.person = h.persons.hash(m.Member)
		}
	}
	h.pending = append(h.pending, l)
	if len(h.pending) == handedPending {
		h.flush()
	}
}

// flush sets the bloom bits of the memberships taken since the last flush and puts their
// members not listed before into members.
func (h *handedMemberships) flush() {
	if h == nil {
		return
	}
	for i := range h.pending {
		block, bits := bloomBits(h.pending[i].key)
		w := h.bloom[block : block+handedBloomBlock/64]
		for _, b := range bits {
			w[b/64] |= 1 << (b % 64)
		}
	}
	for i := range h.pending {
		l := &h.pending[i]
		if l.add && (l.person == 0 || !h.persons.hasHash(l.person)) {
			h.members[l.member] = struct{}{}
		}
	}
	clear(h.pending) // let the members' keys go
	h.pending = h.pending[:0]
}

func (h *handedMemberships) maybe(k record.MembershipKey) bool {
	h.flush()
	block, bits := bloomBits(keyHash(h.seed, k))
	w := h.bloom[block : block+handedBloomBlock/64]
	for _, b := range bits {
		if w[b/64]&(1<<(b%64)) == 0 {
			return false
		}
	}
	return true
}

// valid reports whether every membership handed over names a group and a member active after
// the run (what membershipValid asks of each one).
func (h *handedMemberships) valid(groups *groupsAfter, personActive func(string) bool) bool {
	h.flush()
	for g := range h.groups {
		if gi, ok := groups.get(g); !ok || !gi.active {
			return false
		}
	}
	for m := range h.members {
		if m.group {
			if gi, ok := groups.get(m.key); !ok || !gi.active {
				return false
			}
		} else if !personActive(m.key) {
			return false
		}
	}
	return true
}

// handedPersons is what the diff keeps of the persons it hands over (Options.HandoverPerson):
// how many, the first few for reports (encoded), and a 64-bit hash of each key, in an open-addressing
// table (8 bytes a slot, at most half full: about 16 bytes a person, where the person's
// record took about 700). Whether a membership's or relation's person is active after the run
// is then a lookup. Two keys of one hash are taken for one key listed twice (doubt: the
// ordinary way decides); a key never handed over that shares the hash of one handed over,
// with a seed of each run's own, has a chance of about one in 2^64 / persons.
type handedPersons struct {
	n      int
	head   personHead // the first ones, encoded
	listed int        // how many head holds
	limit  int
	seed   maphash.Seed
	slots  []uint64 // key hashes; 0 is an empty slot (a hash of 0 is stored as 1)
	doubt  bool
}

func newHandedPersons(st *change.State, opts Options) *handedPersons {
	if opts.HandoverPerson == nil || st.HasPersons() {
		return nil
	}
	return &handedPersons{limit: opts.ListHanded, seed: maphash.MakeSeed(), slots: make([]uint64, 1024)}
}

func (h *handedPersons) hash(key string) uint64 {
	x := maphash.String(h.seed, key)
	if x == 0 {
		x = 1
	}
	return x
}

// slot is where hash x is in the table, or the empty slot where it would go.
func (h *handedPersons) slot(x uint64) int {
	mask := len(h.slots) - 1
	i := int(x>>32^x) & mask
	for h.slots[i] != 0 && h.slots[i] != x {
		i = (i + 1) & mask
	}
	return i
}

// has reports whether key was handed over (nil: none were).
func (h *handedPersons) has(key string) bool {
	if h == nil || h.n == 0 {
		return false
	}
	return h.hasHash(h.hash(key))
}

// hasHash reports whether a key of hash x (hash) was handed over.
func (h *handedPersons) hasHash(x uint64) bool {
	return h.slots[h.slot(x)] == x
}

// inPlan is how many persons handed over the plan lists (0: none handed over).
func (h *handedPersons) inPlan() int {
	if h == nil {
		return 0
	}
	return h.listed
}

// take counts a person handed over (not seen before).
func (h *handedPersons) take(p *record.Person) {
	if 2*(h.n+1) > len(h.slots) {
		old := h.slots
		h.slots = make([]uint64, 2*len(old))
		for _, x := range old {
			if x != 0 {
				h.slots[h.slot(x)] = x
			}
		}
	}
	x := h.hash(p.Key)
	h.slots[h.slot(x)] = x
	h.n++
	if h.listed < h.limit {
		h.head.add(p)
		h.listed++
	}
}

// personHead is the persons a plan lists for reports, encoded as they come (about 250 bytes
// a person, where the reader's records took about 600, for up to the 100,000 of a status
// mail's CSV) and decoded once, into the plan. The bytes are in chunks: one growing slice
// would be copied over and over.
type personHead struct {
	chunks [][]byte
}

// headChunk is how many bytes a chunk holds before the next one starts (a person is never
// split between two).
const headChunk = 1 << 20

func (h *personHead) add(p *record.Person) {
	if len(h.chunks) == 0 || len(h.chunks[len(h.chunks)-1]) >= headChunk {
		h.chunks = append(h.chunks, make([]byte, 0, headChunk+4096))
	}
	b := h.chunks[len(h.chunks)-1]
	str := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendUvarint(b, uint64(p.Pos.Line))
	b = binary.AppendUvarint(b, uint64(p.Pos.Column))
	b = binary.AppendUvarint(b, uint64(p.RecStatus))
	str(p.Key)
	str(p.Source)
	str(p.Name)
	str(p.Secret)
	b = binary.AppendUvarint(b, uint64(len(p.Attrs)))
	for _, a := range p.Attrs {
		str(a.Name)
		str(a.Value)
	}
	b = append(b, p.Hash[:]...)
	h.chunks[len(h.chunks)-1] = b
}

// each decodes the persons in the order they were added, releasing each chunk once read.
func (h *personHead) each(f func(record.Person)) {
	names := map[string]string{} // attribute names: a handful, shared
	for c, b := range h.chunks {
		uv := func() int {
			v, n := binary.Uvarint(b)
			b = b[n:]
			return int(v)
		}
		str := func() string {
			n := uv()
			s := string(b[:n])
			b = b[n:]
			return s
		}
		for len(b) > 0 {
			var p record.Person
			p.Pos.Line, p.Pos.Column, p.RecStatus = uv(), uv(), record.RecStatus(uv())
			p.Key, p.Source, p.Name, p.Secret = str(), str(), str(), str()
			if n := uv(); n > 0 {
				p.Attrs = make(record.Attrs, n)
				for i := range p.Attrs {
					n := uv()
					name, ok := names[string(b[:n])]
					if !ok {
						name = string(b[:n])
						names[name] = name
					}
					b = b[n:]
					p.Attrs[i] = record.Attr{Name: name, Value: str()}
				}
			}
			b = b[copy(p.Hash[:], b):]
			f(p)
		}
		h.chunks[c] = nil
	}
	h.chunks = nil
}
