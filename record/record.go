// Package record holds the typed records read from an IMS Enterprise 1.1 file: persons, groups,
// memberships and relations between persons, with their keys and content hashes. It is a leaf: it imports nothing of ours,
// so the reader, the diff, the stores and the mailer can all share it.
package record

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

// Type is one of the kinds of record. Its String form is the JSON and config name.
type Type int

const (
	Persons Type = iota
	Groups
	Memberships
	// Relations are between two persons (a pupil's carers and mentors), read from a person's
	// extension; no IMS Enterprise element of their own.
	Relations
)

// NumTypes is how many kinds there are: the length of arrays indexed by Type.
const NumTypes = 4

// Types lists the three IMS Enterprise kinds in report order (the live channel's objects).
var Types = [...]Type{Persons, Groups, Memberships}

// AllTypes lists every kind a run reads, counts and guards, in report order.
var AllTypes = [...]Type{Persons, Groups, Memberships, Relations}

func (t Type) String() string {
	switch t {
	case Persons:
		return "persons"
	case Groups:
		return "groups"
	case Memberships:
		return "memberships"
	case Relations:
		return "relations"
	}
	return "unknown"
}

// Pos is a position in the input file: 1-based line and column (in characters of the decoded
// text, as an editor shows them).
type Pos struct {
	Line   int `json:"line"`
	Column int `json:"column"`
}

// RecStatus is IMS recstatus: 0 when absent, 1 add, 2 update, 3 delete. A byte, like
// MemberType: a held night's plan holds millions of memberships (see Membership).
type RecStatus uint8

const (
	StatusAbsent RecStatus = 0
	StatusAdd    RecStatus = 1
	StatusUpdate RecStatus = 2
	StatusDelete RecStatus = 3
)

// Attr is one normalised, stored field of a record, e.g. {"email", "a@b.org"}.
// Names are dotted paths such as "name.given", "userid.SchoolID", "tel.voice" or, for tenant
// XPath mappings, "x.<mapping name>".
type Attr struct {
	Name  string `json:"n"`
	Value string `json:"v"`
}

// Attrs is a record's field list. Sort it with Sort before hashing; duplicates are kept in
// input order (two tel numbers of one type are two attributes).
type Attrs []Attr

// Sort orders attributes by name, keeping the input order of equal names.
// Add appends name=value unless value is empty: every channel stores an absent and an empty
// field alike.
func (a *Attrs) Add(name, value string) {
	if value != "" {
		*a = append(*a, Attr{Name: name, Value: value})
	}
}

// UserIDs gathers a person's user ids as every channel stores them, so that a live request and
// a nightly file give the same attributes and content hash: a typed id as "userid.<type>", the
// first untyped id (else the first id) as "userid", and passwords never in clear, only as a
// digest mixed into the hash.
type UserIDs struct {
	first, plain string
	secret       []byte
}

// Add takes one user id; hasPassword says it carried a password (which may be empty).
func (u *UserIDs) Add(a *Attrs, typ, id, password string, hasPassword bool) {
	if hasPassword {
		u.secret = append(u.secret, typ...)
		u.secret = append(u.secret, 0)
		u.secret = append(u.secret, password...)
		u.secret = append(u.secret, 0)
	}
	if id == "" {
		return
	}
	if u.first == "" {
		u.first = id
	}
	if typ != "" {
		a.Add("userid."+typ, id)
	} else if u.plain == "" {
		u.plain = id
	}
}

// Finish adds the "userid" attribute and returns the passwords' digest ("" when none came).
func (u *UserIDs) Finish(a *Attrs) (secret string) {
	if u.plain == "" {
		u.plain = u.first
	}
	a.Add("userid", u.plain)
	if len(u.secret) == 0 {
		return ""
	}
	sum := sha256.Sum256(u.secret)
	return hex.EncodeToString(sum[:])
}

// The preferred names, stored apart from the name: the first from IMS Enterprise 1.1
// <nickname> (or a tenant mapping), IMS ES's Nickname part and LIS 2.0's preferred-name block.
const (
	PreferredFirst = "name.preferred.given"
	PreferredLast  = "name.preferred.family"
)

// Del removes every attribute of this name.
func (a *Attrs) Del(name string) {
	out := (*a)[:0]
	for _, x := range *a {
		if x.Name != name {
			out = append(out, x)
		}
	}
	*a = out
}

func (a Attrs) Sort() {
	slices.SortStableFunc(a, func(x, y Attr) int { return strings.Compare(x.Name, y.Name) })
}

// Get returns the first value of name, or "".
func (a Attrs) Get(name string) string {
	for _, x := range a {
		if x.Name == name {
			return x.Value
		}
	}
	return ""
}

// Hash is a record's content hash: the first 16 bytes of a SHA-256 over its normalised stored
// fields. Equal hashes mean "no update", whatever the file's formatting.
type Hash [16]byte

func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// MarshalText writes the hash as hex (JSON plans and stores keep it readable).
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText reads the hex form.
func (h *Hash) UnmarshalText(b []byte) error {
	if _, err := hex.Decode(h[:], b); err != nil || len(b) != 2*len(h) {
		return fmt.Errorf("content hash %q: want %d hex digits", b, 2*len(h))
	}
	return nil
}

// ParseHash reads the hex form written by String. A malformed string gives the zero hash.
func ParseHash(s string) Hash {
	var h Hash
	b, err := hex.DecodeString(s)
	if err == nil && len(b) == len(h) {
		copy(h[:], b)
	}
	return h
}

// hasher builds a content hash from length-prefixed fields, so ("ab","c") ≠ ("a","bc"). Its
// buffer starts in the caller's frame (a hasher is a value, appended to by functions that return
// it): a file's 1.5 million memberships hashed without a heap allocation each.
type hasher struct{ buf []byte }

func (h hasher) add(s string) hasher {
	n := len(s)
	h.buf = append(h.buf, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	h.buf = append(h.buf, s...)
	return h
}

func (h hasher) sum() Hash {
	full := sha256.Sum256(h.buf)
	var out Hash
	copy(out[:], full[:])
	return out
}

func (h hasher) attrs(a Attrs) hasher {
	h = h.add("attrs")
	for _, x := range a {
		h = h.add(x.Name).add(x.Value)
	}
	return h
}

// Person is one <person>. Key is the trimmed sourcedid/id (the "New" one when there are several).
type Person struct {
	Pos       Pos       `json:"-"`
	Key       string    `json:"key"`
	Source    string    `json:"source,omitempty"`
	RecStatus RecStatus `json:"-"`
	Name      string    `json:"name,omitempty"` // formatted name (<fn>, else given + family)
	Attrs     Attrs     `json:"attrs,omitempty"`
	// Secret is mixed into the content hash and never stored, logged or mailed: a clear-text
	// password changing must still count as an update. Readers put only a digest here.
	Secret string `json:"-"`
	Hash   Hash   `json:"hash"`
}

// ComputeHash sets p.Hash from the stored fields. Attrs must be sorted.
func (p *Person) ComputeHash() {
	h := hasher{buf: make([]byte, 0, 256)}
	h = h.add("person")
	h = h.add(p.Key)
	h = h.add(p.Source)
	h = h.add(p.Name)
	h = h.attrs(p.Attrs)
	h = h.add(p.Secret)
	p.Hash = h.sum()
}

// GroupType is one <grouptype>: scheme, typevalue and its level.
type GroupType struct {
	Scheme string `json:"scheme,omitempty"`
	Value  string `json:"value"`
	Level  string `json:"level,omitempty"`
}

// Group is one <group>. Parents are the keys named by relationship relation="1", in file
// order without duplicates; a group naming itself is a root and its own key is dropped here
// (SelfParent records that it said so).
type Group struct {
	Pos        Pos         `json:"-"`
	Key        string      `json:"key"`
	Source     string      `json:"source,omitempty"`
	RecStatus  RecStatus   `json:"-"`
	Name       string      `json:"name,omitempty"` // description/short, else long, else full
	Types      []GroupType `json:"types,omitempty"`
	Parents    []string    `json:"parents,omitempty"`
	SelfParent bool        `json:"self_parent,omitempty"`
	Attrs      Attrs       `json:"attrs,omitempty"`
	// Template is the course template a new course starts from (the tenant's
	// courses.template), set by the diff on a course's insert and stored with it. It is no
	// field of the file: not hashed, and never changed by an import.
	Template string `json:"template,omitempty"`
	Hash     Hash   `json:"hash"`
}

// ComputeHash sets g.Hash from the stored fields. Attrs must be sorted.
func (g *Group) ComputeHash() {
	h := hasher{buf: make([]byte, 0, 256)}
	h = h.add("group")
	h = h.add(g.Key)
	h = h.add(g.Source)
	h = h.add(g.Name)
	h = h.add("types")
	for _, t := range g.Types {
		h = h.add(t.Scheme)
		h = h.add(t.Value)
		h = h.add(t.Level)
	}
	h = h.add("parents")
	for _, p := range g.Parents {
		h = h.add(p)
	}
	if g.SelfParent {
		h = h.add("self")
	}
	h = h.attrs(g.Attrs)
	g.Hash = h.sum()
}

// MemberType is IMS idtype: 1 a person, 2 a group.
type MemberType uint8

const (
	MemberPerson MemberType = 1
	MemberGroup  MemberType = 2
)

// MembershipKey identifies a membership: (group, member, role). One member with two roles is
// two memberships.
type MembershipKey struct {
	Group  string `json:"group"`
	Member string `json:"member"`
	Role   string `json:"role"` // "01".."08"
}

func (k MembershipKey) String() string { return k.Group + "/" + k.Member + "/" + k.Role }

// Compare orders keys by group, member, role, byte by byte (as the stores' "C" key columns
// sort): -1, 0 or +1.
func (k MembershipKey) Compare(o MembershipKey) int {
	if c := strings.Compare(k.Group, o.Group); c != 0 {
		return c
	}
	if c := strings.Compare(k.Member, o.Member); c != 0 {
		return c
	}
	return strings.Compare(k.Role, o.Role)
}

// Membership is one member × role of a <membership>.
type Membership struct {
	Pos Pos `json:"-"`
	MembershipKey
	MemberType MemberType `json:"member_type"`
	RecStatus  RecStatus  `json:"-"`
	// Inactive is <status>0</status>: the membership is to be removed.
	Inactive bool  `json:"-"`
	Attrs    Attrs `json:"attrs,omitempty"` // subrole, timeframe.begin, timeframe.end, ...
	Hash     Hash  `json:"hash"`
}

// ComputeHash sets m.Hash from the stored fields. Attrs must be sorted.
func (m *Membership) ComputeHash() {
	h := hasher{buf: make([]byte, 0, 128)}
	h = h.add("membership")
	h = h.add(m.Group)
	h = h.add(m.Member)
	h = h.add(m.Role)
	if m.MemberType == MemberGroup {
		h = h.add("group-member")
	}
	h = h.attrs(m.Attrs)
	m.Hash = h.sum()
}

// RelationKey identifies a relation: the person whose record names it, the related person and
// the relation's type, a word from the file ("guardian", "nextOfKin", "mentor", ...). A pupil
// with two guardians has two relations.
type RelationKey struct {
	Person  string `json:"person"`
	Related string `json:"related"`
	Type    string `json:"type"`
}

func (k RelationKey) String() string { return k.Person + "/" + k.Related + "/" + k.Type }

// Relation is one relation a person's record names (the PIFU-IMS pifu_hasContactPerson, or a
// tenant mapping). Its content is its attributes (e.g. "source", the related sourcedid's).
type Relation struct {
	Pos Pos `json:"-"`
	RelationKey
	Attrs Attrs `json:"attrs,omitempty"`
	Hash  Hash  `json:"hash"`
}

// ComputeHash sets r.Hash from the stored fields. Attrs must be sorted.
func (r *Relation) ComputeHash() {
	h := hasher{buf: make([]byte, 0, 128)}
	h = h.add("relation")
	h = h.add(r.Person)
	h = h.add(r.Related)
	h = h.add(r.Type)
	h = h.attrs(r.Attrs)
	r.Hash = h.sum()
}

// Gone reports whether the record says it is deleted (recstatus 3) or, for memberships,
// inactive (status 0).
func (p *Person) Gone() bool     { return p.RecStatus == StatusDelete }
func (g *Group) Gone() bool      { return g.RecStatus == StatusDelete }
func (m *Membership) Gone() bool { return m.RecStatus == StatusDelete || m.Inactive }

// Warning is a record-level problem: the record was skipped, repaired (in lenient mode), or a
// part of it was ignored. Kind says which, so reports can list them apart.
type Warning struct {
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Key     string `json:"key,omitempty"`
	Message string `json:"message"`
	// Kind is WarnSkipped, WarnRepaired or WarnIgnored; runs recorded before it existed have "".
	Kind string `json:"kind,omitempty"`
}

// Kinds of warning.
const (
	// WarnSkipped: the record was left out; in a snapshot its stored counterpart is kept.
	WarnSkipped = "skipped"
	// WarnRepaired: lenient mode repaired the file (a bare '&', junk after </enterprise>);
	// nothing was left out.
	WarnRepaired = "repaired"
	// WarnIgnored: a part of the file that means nothing to the import (a DOCTYPE, a parent
	// relationship without an id) was ignored; the record itself was read.
	WarnIgnored = "ignored"
)

// Class is the warning's kind; for a warning recorded without one it is read off the message.
func (w Warning) Class() string {
	switch {
	case w.Kind != "":
		return w.Kind
	case strings.HasPrefix(w.Message, "repaired"):
		return WarnRepaired
	case strings.Contains(w.Message, "skipped"):
		return WarnSkipped
	}
	return WarnIgnored
}

// Roles maps IMS roletype names to their codes. Codes map to themselves.
var roleNames = map[string]string{
	"learner": "01", "instructor": "02", "contentdeveloper": "03", "member": "04",
	"manager": "05", "mentor": "06", "administrator": "07", "teachingassistant": "08",
}

// NormalizeRole turns "2", "02", " Instructor " or "instructor" into "02". ok is false for an
// unknown role.
func NormalizeRole(s string) (code string, ok bool) {
	s = strings.TrimSpace(s)
	if len(s) == 1 && s[0] >= '1' && s[0] <= '8' {
		return "0" + s, true
	}
	if len(s) == 2 && s[0] == '0' && s[1] >= '1' && s[1] <= '8' {
		return s, true
	}
	c, ok := roleNames[strings.ToLower(strings.ReplaceAll(s, " ", ""))]
	return c, ok
}

// RoleName gives the IMS name of a role code ("02" → "Instructor").
func RoleName(code string) string {
	switch code {
	case "01":
		return "Learner"
	case "02":
		return "Instructor"
	case "03":
		return "ContentDeveloper"
	case "04":
		return "Member"
	case "05":
		return "Manager"
	case "06":
		return "Mentor"
	case "07":
		return "Administrator"
	case "08":
		return "TeachingAssistant"
	}
	return code
}
