// Package change holds a tenant's synced state as the diff sees it and the change set (the plan)
// that the diff makes from it. It is a leaf shared by the diff, the safety check, the stores,
// the run record and the mailer; it decides nothing.
package change

import (
	"fmt"
	"iter"
	"reflect"
	"slices"
	"strings"

	"github.com/imsfeed/imsfeed/record"
)

// Op is what a change does to its object.
type Op uint8

const (
	// Insert creates a new synced object.
	Insert Op = iota + 1
	// Update replaces a synced object's stored fields (its content hash changed).
	Update
	// Delete removes it. For a person this means the trash can: an import never hard-deletes
	// a person.
	Delete
	// Restore brings a trashed person back (with the file's fields).
	Restore
	// Archive archives a course: status archived, parents removed.
	Archive
	// Manualize turns a synced membership of an archived course into a manual one.
	Manualize
)

var opNames = [...]string{Insert: "insert", Update: "update", Delete: "delete", Restore: "restore", Archive: "archive", Manualize: "manual"}

func (o Op) String() string {
	if int(o) < len(opNames) && opNames[o] != "" {
		return opNames[o]
	}
	return fmt.Sprintf("op(%d)", o)
}

// MarshalText writes the op's name.
func (o Op) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// UnmarshalText reads an op's name.
func (o *Op) UnmarshalText(b []byte) error {
	for i, n := range opNames {
		if n != "" && n == string(b) {
			*o = Op(i)
			return nil
		}
	}
	return fmt.Errorf("unknown change op %q", b)
}

// Removal reports whether the op takes something away (what hold-removals holds back).
func (o Op) Removal() bool { return o == Delete || o == Archive || o == Manualize }

// Person is one change to a person. For Delete only Key and Name are set.
type Person struct {
	Op     Op            `json:"op"`
	Person record.Person `json:"person"`
	// Old is the stored person an Update replaces, when the importer looked it up: reports
	// show the fields that change (old → new). Nothing applies it.
	Old *record.Person `json:"old,omitempty"`
}

// Group is one change to a group. For Delete and Archive only Key and Name are set, and for
// Archive the Parents the course is left under (the tenant's archive node, or none).
type Group struct {
	Op    Op           `json:"op"`
	Group record.Group `json:"group"`
	// Course is the tenant's reading of the group's types: courses are archived, not deleted.
	Course bool `json:"course,omitempty"`
	// Old is the stored group an Update replaces, as Person.Old.
	Old *record.Group `json:"old,omitempty"`
}

// Membership is one change to a membership. For Delete and Manualize only the key is set.
type Membership struct {
	Op         Op                `json:"op"`
	Membership record.Membership `json:"membership"`
	// Cascade marks a delete caused by its person or group going (counted as a delete).
	Cascade bool `json:"cascade,omitempty"`
}

// Relation is one change to a relation between persons. For Delete only the key is set.
type Relation struct {
	Op       Op              `json:"op"`
	Relation record.Relation `json:"relation"`
	// Cascade marks a delete caused by one of its persons going to the trash can.
	Cascade bool `json:"cascade,omitempty"`
}

// Notice kinds for the attention section of the status mail.
const (
	NoticeReappearedCourse = "reappeared-archived-course"
	NoticeSkippedRecord    = "skipped-record"
	NoticeOrphanedGroup    = "orphaned-group"
	NoticeKeptRecord       = "kept-record" // a skipped record's stored counterpart was kept
	NoticeStaleSource      = "no-new-file"
	NoticeLiveSinceHold    = "live-since-hold" // an approved plan was applied on top of live requests
)

// Notice is something a person should look at; it changes nothing.
type Notice struct {
	Kind    string `json:"kind"`
	Key     string `json:"key,omitempty"`
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
}

// TypeCounts are one record type's numbers in a run record and the status mail.
// For memberships, Archived counts synced memberships turned manual because their course was
// archived (not deletes); Deleted includes cascades.
type TypeCounts struct {
	Before   int `json:"before"`
	Inserted int `json:"inserted"`
	Updated  int `json:"updated"`
	Deleted  int `json:"deleted"`
	Restored int `json:"restored"`
	Archived int `json:"archived"`
	After    int `json:"after"`
}

// Counts are the per-type numbers of a run.
type Counts struct {
	Persons     TypeCounts `json:"persons"`
	Groups      TypeCounts `json:"groups"`
	Memberships TypeCounts `json:"memberships"`
	Relations   TypeCounts `json:"relations"`
}

// PerType is one number per record type, indexed by record.Type.
type PerType = [record.NumTypes]int

// Of returns the counts of one type.
func (c *Counts) Of(t record.Type) *TypeCounts {
	switch t {
	case record.Persons:
		return &c.Persons
	case record.Groups:
		return &c.Groups
	case record.Relations:
		return &c.Relations
	default:
		return &c.Memberships
	}
}

// Plan is a change set: exactly what one run would do to one tenant's state, made against
// state version BaseVersion. Its JSON encoding is what a held run stores and approval applies.
type Plan struct {
	Tenant      string       `json:"tenant"`
	Mode        string       `json:"mode"` // snapshot or event
	BaseVersion int64        `json:"base_version"`
	Persons     []Person     `json:"persons"`
	Groups      []Group      `json:"groups"`
	Memberships []Membership `json:"memberships"`
	Relations   []Relation   `json:"relations,omitempty"`
	Attention   []Notice     `json:"attention,omitempty"`
	Counts      Counts       `json:"counts"`
	// SchoolYear, when set, is made the tenant's current school year by the apply (a
	// rollover's plan carries it, so the year moves on only when the plan is approved).
	SchoolYear string `json:"school_year,omitempty"`
	// Names, when set, gives the stored names of persons and groups the plan only names by key
	// (a membership's group and member), for reports. It is not part of the stored plan.
	Names Names `json:"-"`
	// Early counts, per type, the inserts that were written into the store while the file
	// was read (an initial load, store.EarlyWriter: its persons and
	// memberships) and that the plan does not list: only their first few are kept in
	// Persons and Memberships, for reports. Such a plan is applied with those inserts or not
	// at all: it is never stored or split (it is not whole).
	Early PerType `json:"-"`
	// RemovalBase, when set, is what archive.Removals needs of the stored memberships, read by
	// a diff that held no set of them (State.Stored). It is not part of the stored plan.
	RemovalBase *RemovalBase `json:"-"`
}

// RemovalBase is what the report of where a plan's removals come from (archive.Removals) reads
// of the stored memberships: which membership deletes remove a group from a group, and how
// many synced person memberships each group and role that loses one has.
type RemovalBase struct {
	GroupMembers map[record.MembershipKey]bool
	Synced       map[GroupRole]int
}

// GroupRole is a group and a role in it.
type GroupRole struct{ Group, Role string }

// Names looks up a stored person's or group's name by key; "" when unknown. State is one.
type Names interface {
	PersonName(key string) string
	GroupName(key string) string
}

// Empty reports whether the plan changes nothing.
func (p *Plan) Empty() bool {
	return len(p.Persons) == 0 && len(p.Groups) == 0 && len(p.Memberships) == 0 && len(p.Relations) == 0 && p.Early == PerType{}
}

// Changes is how many changes the plan holds, of every type.
func (p *Plan) Changes() int {
	n := len(p.Persons) + len(p.Groups) + len(p.Memberships) + len(p.Relations)
	for _, e := range p.Early {
		n += e
	}
	return n
}

// Split divides a plan into what hold-removals applies now (inserts, updates, restores) and what
// waits for approval (deletes, archivals, manualizations and cascades). Counts are recomputed
// from the state counts in before.
func (p *Plan) Split() (now, held *Plan) {
	now = &Plan{Tenant: p.Tenant, Mode: p.Mode, BaseVersion: p.BaseVersion, Attention: p.Attention, Names: p.Names, Early: p.Early}
	held = &Plan{Tenant: p.Tenant, Mode: p.Mode, BaseVersion: p.BaseVersion, Names: p.Names}
	for _, c := range p.Persons {
		if c.Op.Removal() {
			held.Persons = append(held.Persons, c)
		} else {
			now.Persons = append(now.Persons, c)
		}
	}
	for _, c := range p.Groups {
		if c.Op.Removal() {
			held.Groups = append(held.Groups, c)
		} else {
			now.Groups = append(now.Groups, c)
		}
	}
	for _, c := range p.Memberships {
		if c.Op.Removal() {
			held.Memberships = append(held.Memberships, c)
		} else {
			now.Memberships = append(now.Memberships, c)
		}
	}
	for _, c := range p.Relations {
		if c.Op.Removal() {
			held.Relations = append(held.Relations, c)
		} else {
			now.Relations = append(now.Relations, c)
		}
	}
	now.Counts = Tally(now, Before(p.Counts))
	held.Counts = Tally(held, Before(now.Counts.after()))
	return now, held
}

func (c Counts) after() Counts {
	var out Counts
	for _, t := range record.AllTypes {
		out.Of(t).Before = c.Of(t).After
	}
	return out
}

// Before extracts the per-type Before numbers.
func Before(c Counts) PerType {
	var n PerType
	for _, t := range record.AllTypes {
		n[t] = c.Of(t).Before
	}
	return n
}

// Tally counts a plan's changes on top of the given before numbers.
func Tally(p *Plan, before PerType) Counts {
	var c Counts
	for _, t := range record.AllTypes {
		c.Of(t).Before = before[t]
	}
	for _, x := range p.Persons {
		bump(&c.Persons, x.Op)
	}
	for _, x := range p.Groups {
		bump(&c.Groups, x.Op)
	}
	for _, x := range p.Memberships {
		bump(&c.Memberships, x.Op)
	}
	for _, x := range p.Relations {
		bump(&c.Relations, x.Op)
	}
	for _, t := range record.AllTypes {
		tc := c.Of(t)
		tc.Inserted += p.Early[t]
		tc.After = tc.Before + tc.Inserted + tc.Restored - tc.Deleted - tc.Archived
	}
	return c
}

// Count counts n more changes of type t doing op, for a plan whose changes of that type are
// counted as they are read rather than listed (Tally counts the listed ones).
func (c *Counts) Count(t record.Type, op Op, n int) {
	tc := c.Of(t)
	for range n {
		bump(tc, op)
	}
	tc.After = tc.Before + tc.Inserted + tc.Restored - tc.Deleted - tc.Archived
}

func bump(c *TypeCounts, op Op) {
	switch op {
	case Insert:
		c.Inserted++
	case Update:
		c.Updated++
	case Delete:
		c.Deleted++
	case Restore:
		c.Restored++
	case Archive, Manualize:
		c.Archived++
	}
}

// PersonState is what the diff needs of a stored person.
type PersonState struct {
	Hash    record.Hash
	Name    string
	Trashed bool
	// Seen is the diff's scratch mark: the file mentioned this key. Stores leave it false.
	Seen bool
	// SeenLine is the diff's scratch too: the line where the file first mentioned the key, for
	// a duplicate's error (it fits in the padding, so the state is no larger).
	SeenLine int32
}

// GroupState is what the diff needs of a stored group.
type GroupState struct {
	Hash    record.Hash
	Name    string
	Parents []string
	// (The flags after the slice: 64 bytes, not 72 with the padding of two bools before it.)
	Archived bool
	Course   bool
	// Own marks a group imsfeed made (source "imsfeed": a node of hierarchy's).
	Own      bool
	Seen     bool  // the diff's scratch mark, as in PersonState
	SeenLine int32 // as in PersonState
}

// MembershipState is what the diff needs of a stored membership.
type MembershipState struct {
	Hash       record.Hash
	MemberType record.MemberType
	// Manual memberships were not made by the import; the import never touches them.
	Manual   bool
	Seen     bool  // the diff's scratch mark, as in PersonState
	SeenLine int32 // as in PersonState
}

// RelationState is what the diff needs of a stored relation.
type RelationState struct {
	Hash     record.Hash
	Seen     bool  // the diff's scratch mark, as in PersonState
	SeenLine int32 // as in PersonState
}

// State is a tenant's stored state as the diff reads it: every person (active and trashed),
// every group (active and archived), every membership (synced and manual) and every relation.
type State struct {
	Tenant  string
	Version int64
	// SchoolYear is the school year a rollover made current; "" means the config's.
	SchoolYear string
	Persons    map[string]PersonState
	// StoredPersons, when set, gives the persons instead of Persons (then nil): held compactly,
	// their keys and names read again from the store's source when needed (a store whose state
	// index is current; see PersonIndex).
	StoredPersons *PersonIndex
	Groups        map[string]GroupState
	Memberships   *MembershipSet
	// Stored, when set, gives the memberships instead of Memberships (then nil): read once, at
	// the diff's end (a staged load of a tenant with memberships; see StoredMemberships).
	Stored    StoredMemberships
	Relations map[record.RelationKey]RelationState
}

// Equal reports whether two states hold the same (tests compare loaded states with it: the
// memberships' set is equal by content, not by layout).
func (s *State) Equal(o *State) bool {
	if s == nil || o == nil {
		return s == o
	}
	a, b := *s, *o
	a.Memberships, b.Memberships = nil, nil
	return reflect.DeepEqual(a, b) && s.Memberships.Equal(o.Memberships)
}

// PersonName is the stored name of a person, "" when there is none (with StoredPersons: of
// the persons its ReadNames read).
func (s *State) PersonName(key string) string {
	if s.Persons == nil && s.StoredPersons != nil {
		return s.StoredPersons.Name(key)
	}
	return s.Persons[key].Name
}

// HasPersons reports whether the state has any person, active or trashed.
func (s *State) HasPersons() bool {
	return len(s.Persons) > 0 || s.StoredPersons != nil && s.StoredPersons.Len() > 0
}

// HasGroup reports whether the state has a group of this key, active or archived.
func (s *State) HasGroup(key string) bool { _, ok := s.Groups[key]; return ok }

// GroupName is the stored name of a group, "" when there is none.
func (s *State) GroupName(key string) string { return s.Groups[key].Name }

// NewState returns an empty state (a tenant's first import).
func NewState(tenant string) *State {
	return &State{
		Tenant:      tenant,
		Persons:     map[string]PersonState{},
		Groups:      map[string]GroupState{},
		Memberships: NewMembershipSet(0),
		Relations:   map[record.RelationKey]RelationState{},
	}
}

// Active returns the counts of active synced objects per type: the "before" numbers and the
// safety filter's base. Memberships given by Stored are not counted (the diff counts them as
// it reads them).
func (s *State) Active() PerType {
	var n PerType
	for _, p := range s.Persons {
		if !p.Trashed {
			n[record.Persons]++
		}
	}
	if s.StoredPersons != nil {
		n[record.Persons] += s.StoredPersons.Active()
	}
	for _, g := range s.Groups {
		if !g.Archived {
			n[record.Groups]++
		}
	}
	for _, m := range s.Memberships.All() {
		if !m.Manual {
			n[record.Memberships]++
		}
	}
	n[record.Relations] = len(s.Relations)
	return n
}

// NameMap is a Names for a few keys: what a report needs of a state it no longer holds.
type NameMap struct{ Persons, Groups map[string]string }

func (n *NameMap) PersonName(key string) string { return n.Persons[key] }
func (n *NameMap) GroupName(key string) string  { return n.Groups[key] }

// NamesFor keeps from s the stored names of the persons and groups that the plan's first limit
// membership and relation changes and its updates name, so the state itself can be let go before the apply.
//
// A person the plan puts in the trash can has its stored name in its change: when the stored
// names were not read for it (a broken night's quarter of a million), that one is taken.
func NamesFor(p *Plan, s *State, limit int) *NameMap {
	return NamesForApart(p, slices.Values(p.Memberships), nil, s, limit)
}

// NamesForApart is NamesFor of a plan whose membership changes are memberships rather than its
// list, and whose persons going to the trash can are those it lists and, when trashed is not
// nil, those trashed names (ok: the person is one of them): a plan whose removals the diff
// kept apart.
func NamesForApart(p *Plan, memberships iter.Seq[Membership], trashed func(key string) (name string, ok bool), s *State, limit int) *NameMap {
	n := &NameMap{Persons: map[string]string{}, Groups: map[string]string{}}
	var gone []int32 // the plan's persons going to the trash can, with a name, by key
	for i := range p.Persons {
		if c := &p.Persons[i]; c.Op == Delete && c.Person.Name != "" {
			gone = append(gone, int32(i))
		}
	}
	byKey := func(i int32, k string) int { return strings.Compare(p.Persons[i].Person.Key, k) }
	if !slices.IsSortedFunc(gone, func(a, b int32) int { return byKey(a, p.Persons[b].Person.Key) }) {
		slices.SortFunc(gone, func(a, b int32) int { return byKey(a, p.Persons[b].Person.Key) })
	}
	person := func(k string) {
		name := s.PersonName(k)
		if name == "" {
			if i, ok := slices.BinarySearchFunc(gone, k, byKey); ok {
				name = p.Persons[gone[i]].Person.Name
			} else if trashed != nil {
				name, _ = trashed(k)
			}
		}
		if name != "" {
			n.Persons[k] = name
		}
	}
	group := func(k string) {
		if st, ok := s.Groups[k]; ok && st.Name != "" {
			n.Groups[k] = st.Name
		}
	}
	for _, c := range p.Persons {
		if c.Op == Update {
			person(c.Person.Key)
		}
	}
	for _, c := range p.Groups {
		if c.Op == Update {
			group(c.Group.Key)
		}
	}
	i := 0
	for c := range memberships {
		if i == limit {
			break
		}
		i++
		group(c.Membership.Group)
		person(c.Membership.Member)
		group(c.Membership.Member)
	}
	for i, c := range p.Relations {
		if i == limit {
			break
		}
		person(c.Relation.Person)
		person(c.Relation.Related)
	}
	return n
}
