package store

import (
	"context"
	"time"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
)

// Live is what the live channel needs of a store beyond Store: a few objects read by key, a
// plan applied together with its request-log entry in one transaction, and the log itself.
// Both stores implement it; live/ type-asserts a Store to it.
type Live interface {
	// LiveLoad reads the objects a request touches, with the tenant's state version, in one
	// read snapshot.
	LiveLoad(ctx context.Context, tenant string, q LiveQuery) (*LiveObjects, error)
	// LiveApply writes the entry and, when the plan is not empty, applies it in the same
	// transaction if the tenant is still at plan.BaseVersion (else ErrStateChanged, nothing
	// changes), bumping the state version once. It sets Entry.ID and Entry.StateVersion.
	LiveApply(ctx context.Context, p LiveApplyParams) error
	// LiveTouched sums what the tenant's live requests that made state versions after+1 to
	// upto touched (change.Touch), looking at the requests logged from a minute before since
	// on (a request is logged with the time it arrived, which may be before since though it
	// was applied after). It returns ErrStateChanged when one of those versions was not made
	// by a live request whose changes were recorded (a run, an undo, an operator's restore, a
	// request logged before they were recorded), or was logged earlier.
	LiveTouched(ctx context.Context, tenant string, since time.Time, after, upto int64) (*change.Touched, error)
	// LiveEntries lists the tenant's request log, oldest first, from since on.
	LiveEntries(ctx context.Context, p LiveLogParams) ([]LiveEntry, error)
	// LiveTally counts the tenant's requests at or after since, and of them those not answered
	// with success (codeMajor other than "success"): exact however many, counted in the store.
	LiveTally(ctx context.Context, tenant string, since time.Time) (requests, notSuccess int, err error)
	// LiveRepeat returns the entry e repeats: the last write request at or after since with
	// e's tenant, message identifier and keys, when it is the same request (dialect, operation
	// and RequestHash; never when e has no hash). A client that reuses an identifier for
	// another request, or for the same request after another change to the same objects, is
	// not repeating. ErrNotFound if e repeats nothing.
	LiveRepeat(ctx context.Context, e *LiveEntry, since time.Time) (*LiveEntry, error)
	// LiveRemovals sums the removals (persons, groups, memberships) the tenant's live requests
	// applied at or after since.
	LiveRemovals(ctx context.Context, tenant string, since time.Time) ([3]int, error)
	// LiveActive counts the tenant's active persons, active groups and synced memberships
	// (the live delete limits' base), each only up to its bound in atMost (0: not counted), so
	// a request's check reads a few rows, not the whole tenant. A count below its bound is
	// exact; one at its bound means "at least".
	LiveActive(ctx context.Context, tenant string, atMost [3]int) ([3]int, error)
	// LiveAllowance sums the deletes granted to the tenant by LiveAllow at or after since.
	LiveAllowance(ctx context.Context, tenant string, since time.Time) (int, error)
	// LiveAllow records a one-off allowance of n more removals for the tenant.
	LiveAllow(ctx context.Context, tenant string, n int, by, reason string, at time.Time) error
	// LiveActivity sums the tenant's live requests and allowances not yet reported (by a
	// status mail or a digest): what the next mail says.
	LiveActivity(ctx context.Context, tenant string) (*LiveActivity, error)
	// LiveReported records that a mail reported a (up to its last request and allowance) at
	// at; the next LiveActivity starts after them. It never moves back.
	LiveReported(ctx context.Context, tenant string, a *LiveActivity, at time.Time) error
}

// LiveActivity is the live channel's activity of one tenant since its last report.
type LiveActivity struct {
	// Since is when the previous report was made; zero when there was none.
	Since time.Time
	// Requests counts the requests per operation and outcome, by operation.
	Requests []LiveCount
	// Created, Updated and Deleted count what the requests applied, per type (persons,
	// groups, memberships). Created includes persons restored from the trash can (Restored);
	// Deleted counts persons trashed, groups deleted or archived, memberships deleted.
	Created, Updated, Deleted [3]int
	Restored                  int
	Allowances                []LiveAllowance
	// The last request and allowance summed: LiveReported moves the report past them.
	LastRequest, LastAllowance int64
}

// LiveCount is how many requests of one operation had one outcome.
type LiveCount struct {
	Dialect   string // "imses1", "lis2"
	Operation string
	Major     string
	Minor     string
	// Repeat: the requests were repeats (a client's retry answered with the first's outcome,
	// nothing applied again).
	Repeat bool
	N      int
}

// LiveRepeatPrefix begins the description of a repeat in the request log.
const LiveRepeatPrefix = "repeat of request "

// LiveAllowance is one `imsfeed es allow`.
type LiveAllowance struct {
	At      time.Time
	Deletes int
	By      string
	Reason  string
}

// RefusedMinor is the codeMinor of a request the live delete limits refused (live.Refused).
const RefusedMinor = "deletelimit"

// Total is the number of requests.
func (a *LiveActivity) Total() int {
	n := 0
	for _, c := range a.Requests {
		n += c.N
	}
	return n
}

// Refused is the number of requests the live delete limits refused.
func (a *LiveActivity) Refused() int {
	n := 0
	for _, c := range a.Requests {
		if c.Minor == RefusedMinor {
			n += c.N
		}
	}
	return n
}

// Empty reports whether there was no request and no allowance.
func (a *LiveActivity) Empty() bool { return len(a.Requests) == 0 && len(a.Allowances) == 0 }

// LiveQuery names what LiveLoad reads.
type LiveQuery struct {
	Persons []string
	Groups  []string
	// MembershipsOfPersons: every membership whose member is one of these persons.
	MembershipsOfPersons []string
	// MembershipsOfGroups: every membership of these groups, or with one of them as member.
	MembershipsOfGroups []string
	// MembershipsOfPairs: every role of these (group, member) pairs.
	MembershipsOfPairs [][2]string
	// MembershipIDs: the keys an IMS ES client's membership identifiers stand for, and those
	// memberships.
	MembershipIDs []string
	// WithIDs also fills LiveObjects.IDs for the memberships read by person or group.
	WithIDs bool
	// ChildrenOf: every group with one of these groups among its parents (into Groups).
	ChildrenOf []string
}

// StoredPerson is a person as stored, with its status.
type StoredPerson struct {
	record.Person
	Trashed bool
	// TrashedAt is when the person went to the trash can (zero when active, or not recorded).
	TrashedAt time.Time
}

// StoredGroup is a group as stored, with its status.
type StoredGroup struct {
	record.Group
	Archived bool
	Course   bool
}

// StoredMembership is a membership as stored, with its origin.
type StoredMembership struct {
	record.Membership
	Manual bool
}

// LiveObjects is what LiveLoad found.
type LiveObjects struct {
	Version int64
	// SchoolYear is the school year a rollover made the tenant's current ("" when none did).
	SchoolYear  string
	Persons     map[string]StoredPerson
	Groups      map[string]StoredGroup
	Memberships map[record.MembershipKey]StoredMembership
	// IDs maps an IMS ES membership identifier to the keys it was stored with.
	IDs map[string][]record.MembershipKey
}

// LiveEntry is one request of the live channel's log.
type LiveEntry struct {
	ID        int64     `json:"id"`
	At        time.Time `json:"at"`
	Tenant    string    `json:"tenant"`
	Dialect   string    `json:"dialect"`
	Operation string    `json:"operation"`
	MessageID string    `json:"message_id"`
	// Keys are the first few sourcedIds the request named.
	Keys         []string      `json:"keys"`
	CodeMajor    string        `json:"code_major"`
	CodeMinor    string        `json:"code_minor"`
	Description  string        `json:"description,omitempty"`
	Duration     time.Duration `json:"duration_ns"`
	StateVersion int64         `json:"state_version"`
	// Removed counts what the request removed, per type (persons, groups, memberships);
	// Inserted and Updated what it created and changed, Restored the persons it restored.
	Removed  [3]int `json:"removed"`
	Inserted [3]int `json:"inserted"`
	Updated  [3]int `json:"updated"`
	Restored int    `json:"restored"`
	// Result is the answer of a write request, replayed for a repeated message identifier.
	Result []byte `json:"-"`
	// RequestHash is a digest of the request's content (its SOAP Body): with the message
	// identifier it tells a client's retry from a new request (LiveRepeat).
	RequestHash string `json:"-"`
}

// LiveMembershipID ties an IMS ES membership identifier to one of our membership keys.
type LiveMembershipID struct {
	ID  string
	Key record.MembershipKey
}

// LiveApplyParams are LiveApply's arguments.
type LiveApplyParams struct {
	Plan  *change.Plan // nil or empty: only the entry is written
	Entry *LiveEntry
	// IDs are stored; DropIDs (with all their keys) are removed.
	IDs     []LiveMembershipID
	DropIDs []string
	// Renames give persons new keys (changePersonIdentifier) if the tenant is still at
	// RenameBase (else ErrStateChanged), bumping the state version once; never with a Plan.
	Renames    []LiveRename
	RenameBase int64
	Now        time.Time
}

// LiveRename gives an active person a new key: its row, the memberships naming it as a person
// member (synced and manual) and the client's membership identifiers move to the new key, with
// the hashes the new key makes (keys are part of a record's hash).
type LiveRename struct {
	Old, New string
	Hash     record.Hash
	// Memberships maps each membership's key under the old person key to its new hash.
	Memberships map[record.MembershipKey]record.Hash
}

// LiveLogParams filter LiveEntries. Limit 0 means 1000.
type LiveLogParams struct {
	Tenant string
	Since  time.Time
	Limit  int
	// Newest keeps the last Limit entries from since on, not the first (still oldest first).
	Newest bool
}
