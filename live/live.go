// Package live is the live channel's semantics, whatever dialect carried the request: a request
// becomes the same records a nightly file would hold, the records and the stored objects they
// touch become a change set made by the same diff (in event mode), and the change set is applied
// in one transaction under the tenant's lock, with the request's log entry. Dialect packages
// (live/imses for IMS ES 1.0) only translate their XML to a Request and a Result back.
package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/imsfeed/imsfeed/archive"
	"github.com/imsfeed/imsfeed/hierarchy"
	"github.com/imsfeed/imsfeed/importer/ims"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/safety"
	"github.com/imsfeed/imsfeed/store"
)

// Action is what a request does to its objects.
type Action string

const (
	Create  Action = "create"
	Read    Action = "read"
	Replace Action = "replace"
	Update  Action = "update"
	Delete  Action = "delete"
	// ReadForPerson and ReadForGroup read the memberships (or, with Type persons/groups, the
	// groups or persons) of one person or group.
	ReadForPerson Action = "readForPerson"
	ReadForGroup  Action = "readForGroup"
	// DeleteRelationship removes the parents an item's Group names from the stored group.
	DeleteRelationship Action = "deleteRelationship"
	// ChangeIdentifier gives the person Key the key NewKey, keeping its memberships.
	ChangeIdentifier Action = "changeIdentifier"
	// ReadParents reads the parents of the group Key (of the request's Association type).
	ReadParents Action = "readParents"
)

// Writes reports whether the action may change state.
func (a Action) Writes() bool {
	return a == Create || a == Replace || a == Update || a == Delete || a == DeleteRelationship || a == ChangeIdentifier
}

// Status codes, as IMS ES and LIS 2.0 name them.
const (
	Success     = "success"
	Failure     = "failure"
	Unsupported = "unsupported"

	FullSuccess         = "fullsuccess"
	IDAllocInUse        = "idallocinusefail"
	UnknownObject       = "unknownobject"
	InvalidData         = "invaliddata"
	TargetIsBusy        = "targetisbusy"
	UnauthorizedRequest = "unauthorizedrequest"
	ServerBusy          = "serverbusy"
	Overflow            = "overflowfail"
	Refused             = "deletelimit" // the live safety filter refused the request
)

// Status is the outcome of one item.
type Status struct {
	Major       string `json:"major"`
	Minor       string `json:"minor"`
	Description string `json:"description,omitempty"`
}

// OK reports whether the status is a success.
func (s Status) OK() bool { return s.Major == Success }

func ok() Status { return Status{Major: Success, Minor: FullSuccess} }

func fail(minor, format string, args ...any) Status {
	return Status{Major: Failure, Minor: minor, Description: fmt.Sprintf(format, args...)}
}

// Item is one object of a request. For persons and groups Key is the sourcedId; for
// memberships Key is the client's membership identifier (IMS ES names memberships by an id of
// its own) and Memberships the (group, member, role) records it stands for.
type Item struct {
	Key         string
	Person      *record.Person
	Group       *record.Group
	Memberships []record.Membership
	// Carried lists, for an update, the stored fields the request carried: attribute roots
	// ("email", "name", "extension.passwordchange") and "@name", "@secret", "@types",
	// "@parents". Fields not carried keep their stored values.
	Carried []string
	// Keep lists, for a replace, the attribute roots the stored person keeps although the
	// request does not carry them (a preferred-name block naming only one of the two names).
	Keep []string
	// Err is set by the dialect when the item cannot be read (no sourcedId, say).
	Err *Status
	// NewKey is the key a ChangeIdentifier gives the person Key.
	NewKey string `json:",omitempty"`
	// Children are the groups an association (Request.Association) is the parent of; an
	// update changes them only when Carried has "@children".
	Children []string `json:",omitempty"`
}

// Request is one live request.
type Request struct {
	Dialect   string // "imses1", "lis2"
	Operation string // the dialect's operation name, for the log
	MessageID string
	// Digest is the request's content (soap.Node.Digest of its Body): a write with the same
	// message identifier and keys as the last one is a repeat only when it also has the same
	// digest. Empty: never a repeat.
	Digest string `json:"-"`
	Type   record.Type
	Action Action
	Plural bool
	Items  []Item
	// Association, when set, makes the request's groups associations (LIS 2.0 section
	// associations, cross-listing): groups of this type that their Item.Children have as a
	// parent. Reads, writes and deletes name only groups of this type; ReadParents lists only
	// parents of it. See association.go.
	Association string `json:",omitempty"`
}

// Keys are the first few keys the request names, for the log.
func (r *Request) Keys() []string {
	var out []string
	for _, it := range r.Items {
		if len(out) == 5 {
			out = append(out, fmt.Sprintf("(+%d)", len(r.Items)-5))
			break
		}
		if it.Key != "" {
			out = append(out, strings.ReplaceAll(it.Key, " ", "_"))
		}
	}
	return out
}

// Membership is a stored membership with the identifier a client knows it by.
type Membership struct {
	ID string `json:"id"`
	record.Membership
}

// Result is the answer to a request: one status per item (one in all for a request that
// failed whole), and what a read found.
type Result struct {
	Statuses    []Status             `json:"statuses"`
	Persons     []store.StoredPerson `json:"-"`
	Groups      []store.StoredGroup  `json:"-"`
	Memberships []Membership         `json:"-"`
	// Children are the children of each association read, by its key, sorted.
	Children map[string][]string `json:"-"`
	// Parents are the stored parents of the groups read, by key (a parent not stored is
	// missing): LIS 2.0 names a section's parents by their role, its term as academicSession
	// and its course offering as parentOfferingId, and only their types tell which is which.
	Parents map[string]store.StoredGroup `json:"-"`
	// Whole is set when the request as a whole failed (busy, refused, unauthorised): the
	// dialect answers with this one status.
	Whole *Status `json:"whole,omitempty"`
	// Repeat is the log id of the first request with this message identifier.
	Repeat int64 `json:"-"`
}

// First is the status of a singular request.
func (r *Result) First() Status {
	if r.Whole != nil {
		return *r.Whole
	}
	if len(r.Statuses) == 0 {
		return ok()
	}
	return r.Statuses[0]
}

// Tenant is what the live channel needs of a tenant's configuration.
type Tenant struct {
	ID      string
	Courses archive.CoursePolicy
	Safety  safety.Policy
	// Mapper applies the tenant's mappings to live records; nil when it has none.
	Mapper *ims.Mapper
	// Placement is the tenant's hierarchy rules for a school year ("" for the configured
	// one): live groups are placed by them as the nightly import places a file's (nil: none).
	Placement func(year string) hierarchy.Rules

	// keys maps the SIS's course keys of one request (a per-request copy of the tenant).
	keys *courseKeys
}

// withKeys maps the request's group keys to the stored ones (see keys.go) and returns the
// tenant as this request sees it.
func (s *Service) withKeys(ctx context.Context, l store.Live, t *Tenant, req *Request) (*Tenant, error) {
	k, err := s.mapKeys(ctx, l, t, req)
	if err != nil || k == nil {
		return t, err
	}
	tc := *t
	tc.keys = k
	return &tc, nil
}

// Service runs live requests against a store.
type Service struct {
	Store store.Store
	// LockWait is how long a request waits for the tenant's lock (a nightly import holds it
	// for its apply) before answering targetisbusy. Default 2s.
	LockWait time.Duration
	// RepeatWindow is how long a message identifier is remembered. Default 24h.
	RepeatWindow time.Duration
	Now          func() time.Time
	Log          *slog.Logger
	// OnRefusal is told of a request the live safety filter refused (Refusal.First: mail it).
	OnRefusal func(tenant string, r Refusal)
	// OnRequest, when set, is told of every request answered, with its outcome and duration
	// (serve counts them for /metrics).
	OnRequest func(e *store.LiveEntry)
	// MaxReadItems overrides MaxReadItems (tests).
	MaxReadItems int

	mu      sync.Mutex
	refused map[string]refusal // the last mailed refusal per tenant
}

// MaxReadItems is the most objects one plural read may name. The body's size limit bounds a
// write (a createPersons of 16 MiB is some 48,000 persons), but 16 MiB of identifiers is half a
// million objects to read and an answer of some 350 MB; a read of more is refused whole with
// overflowfail, to be sent in smaller requests.
const MaxReadItems = 50000

func (s *Service) maxReadItems() int {
	if s.MaxReadItems > 0 {
		return s.MaxReadItems
	}
	return MaxReadItems
}

func (s *Service) live() (store.Live, error) {
	l, ok := s.Store.(store.Live)
	if !ok {
		return nil, errors.New("this store has no live channel")
	}
	return l, nil
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) logger() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Do runs one request for one tenant. It never returns a Go error: every problem is a status
// (an internal one is logged and answered as a failure without its detail).
func (s *Service) Do(ctx context.Context, t *Tenant, req *Request) (out *Result) {
	start := s.now()
	entry := &store.LiveEntry{At: start, Tenant: t.ID, Dialect: req.Dialect, Operation: req.Operation, MessageID: req.MessageID, Keys: req.Keys(), RequestHash: req.Digest}
	defer func() { s.told(entry, out, start) }()
	l, err := s.live()
	if err != nil {
		return s.internal(t, req, err)
	}
	if n, most := len(req.Items), s.maxReadItems(); !req.Action.Writes() && n > most {
		// Refused before anything is read; one status, not one per item named.
		st := fail(Overflow, "the request reads %d objects, more than the %d one request may read; nothing was read: send them in requests of at most %d", n, most, most)
		s.record(ctx, l, entry, st, start)
		return &Result{Whole: &st}
	}
	var res *Result
	var p store.LiveApplyParams
	if req.Action.Writes() {
		release, busy, err := s.lock(ctx, t, req)
		if err != nil {
			return s.internal(t, req, err)
		}
		if busy != nil {
			s.record(ctx, l, entry, busy.First(), start)
			return busy
		}
		// Held until the change set and its log entry are written.
		defer release()
		// A repeat is looked for with the tenant's lock held: a retry sent while its first
		// was still being applied (a client's timeout, a load balancer's retry) waited for
		// that lock, and finds the first's answer once it is written. (A repeat while an
		// import holds the tenant is answered busy, as any write then; sent again, it is a
		// repeat.)
		if again, err := s.repeat(ctx, l, t, req, entry, start); err != nil {
			return s.internal(t, req, err)
		} else if again != nil {
			return again
		}
		if t, err = s.withKeys(ctx, l, t, req); err == nil {
			res, p, err = s.write(ctx, l, t, req)
		}
	} else if t, err = s.withKeys(ctx, l, t, req); err == nil {
		res, err = s.read(ctx, l, t, req)
	}
	if err != nil {
		return s.internal(t, req, err)
	}
	t.keys.answer(res)
	first := res.First()
	entry.CodeMajor, entry.CodeMinor, entry.Description = first.Major, first.Minor, first.Description
	if req.Plural && res.Whole == nil {
		entry.CodeMajor, entry.CodeMinor, entry.Description = summary(res.Statuses)
	}
	entry.Duration = s.now().Sub(start)
	if req.Action.Writes() && res.Whole == nil {
		entry.Result, _ = json.Marshal(res)
	}
	if p.Plan != nil {
		entry.Removed = removals(p.Plan)
		entry.Inserted, entry.Updated, entry.Restored = applied(p.Plan)
	}
	entry.Updated[record.Persons] += len(p.Renames)
	p.Entry, p.Now = entry, start
	if err := l.LiveApply(ctx, p); err != nil {
		if errors.Is(err, store.ErrStateChanged) {
			return whole(fail(TargetIsBusy, "the tenant's state changed while the request was read; send it again"), req)
		}
		return s.internal(t, req, err)
	}
	return res
}

// told tells OnRequest of an answered request; an answer not logged (an internal failure)
// has its outcome from the answer.
func (s *Service) told(e *store.LiveEntry, res *Result, start time.Time) {
	if s.OnRequest == nil {
		return
	}
	if e.CodeMajor == "" && res != nil {
		st := res.First()
		e.CodeMajor, e.CodeMinor = st.Major, st.Minor
	}
	if e.Duration == 0 {
		e.Duration = s.now().Sub(start)
	}
	s.OnRequest(e)
}

// record logs a request answered whole without touching the state (busy, unsupported).
func (s *Service) record(ctx context.Context, l store.Live, e *store.LiveEntry, st Status, start time.Time) {
	e.CodeMajor, e.CodeMinor, e.Description = st.Major, st.Minor, st.Description
	e.Duration = s.now().Sub(start)
	if err := l.LiveApply(ctx, store.LiveApplyParams{Entry: e, Now: start}); err != nil {
		s.logger().Error("live request log", "tenant", e.Tenant, "err", err)
	}
}

// Record logs a request the dialect answered itself (an operation imsfeed does not implement).
func (s *Service) Record(ctx context.Context, t *Tenant, req *Request, st Status) {
	l, err := s.live()
	if err != nil {
		return
	}
	now := s.now()
	e := &store.LiveEntry{At: now, Tenant: t.ID, Dialect: req.Dialect, Operation: req.Operation, MessageID: req.MessageID, Keys: req.Keys()}
	s.record(ctx, l, e, st, now)
	s.told(e, nil, now)
}

// summary is a plural request's log outcome: success when every item succeeded.
func summary(st []Status) (major, minor, desc string) {
	failed := 0
	var firstFail Status
	for _, s := range st {
		if !s.OK() {
			if failed == 0 {
				firstFail = s
			}
			failed++
		}
	}
	if failed == 0 {
		return Success, FullSuccess, ""
	}
	if failed == len(st) {
		return Failure, firstFail.Minor, firstFail.Description
	}
	return Success, "partialsuccess", fmt.Sprintf("%d of %d items failed; first: %s", failed, len(st), firstFail.Description)
}

func whole(st Status, req *Request) *Result {
	r := &Result{Whole: &st}
	for range req.Items {
		r.Statuses = append(r.Statuses, st)
	}
	return r
}

// movedSince reports whether what req names may have changed since first, its earlier sending:
// the same request sent again is then a request of its own, not a repeat. Told first's answer
// with nothing applied, the client would lose a write (a person created again after a night
// trashed it stays in the trash can) or keep a failure that no longer holds (a membership still
// refused for a person another request has created since), for the whole repeat window. Only
// the live requests' changes are known by key (store.Live.LiveTouched): anything else that
// moved the state since (a night, an approval, an undo, a restore) counts as a change.
func (s *Service) movedSince(ctx context.Context, l store.Live, t *Tenant, req *Request, first *store.LiveEntry) (bool, error) {
	now, err := s.Store.StateVersion(ctx, t.ID)
	if err != nil {
		return false, err
	}
	if now == first.StateVersion {
		return false, nil
	}
	touched, err := l.LiveTouched(ctx, t.ID, first.At, first.StateVersion, now)
	if errors.Is(err, store.ErrStateChanged) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return touched.Names(req.named()...), nil
}

// named is every key req names: its items' keys (membership identifiers too), persons, groups,
// their parents and children, and its memberships' groups and members.
func (req *Request) named() []string {
	var keys []string
	for _, it := range req.Items {
		keys = append(keys, it.Key)
		if it.NewKey != "" {
			keys = append(keys, it.NewKey)
		}
		keys = append(keys, it.Children...)
		if it.Person != nil {
			keys = append(keys, it.Person.Key)
		}
		if it.Group != nil {
			keys = append(keys, it.Group.Key)
			keys = append(keys, it.Group.Parents...)
		}
		for _, m := range it.Memberships {
			keys = append(keys, m.Group, m.Member)
		}
	}
	return keys
}

// internal answers a failure the client cannot fix; the detail goes to the log only.
func (s *Service) internal(t *Tenant, req *Request, err error) *Result {
	s.logger().Error("live request failed", "tenant", t.ID, "operation", req.Operation, "message_id", req.MessageID, "err", err)
	return whole(fail(ServerBusy, "the server could not complete the request; nothing was changed, try again later"), req)
}

// repeat answers a write that is the same request again (its message identifier and its
// content) within the repeat window with the first one's answer, logged as a repeat: nil when
// it is not one.
func (s *Service) repeat(ctx context.Context, l store.Live, t *Tenant, req *Request, entry *store.LiveEntry, start time.Time) (*Result, error) {
	if !req.Action.Writes() || req.MessageID == "" {
		return nil, nil
	}
	window := s.RepeatWindow
	if window == 0 {
		window = 24 * time.Hour
	}
	// Only the same request again is a repeat: Banner ILP's traffic sends the
	// identifier "2" with every request, a changed replacePerson among them.
	first, err := l.LiveRepeat(ctx, entry, start.Add(-window))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	if moved, err := s.movedSince(ctx, l, t, req, first); err != nil || moved {
		return nil, err
	}
	var res Result
	if json.Unmarshal(first.Result, &res) != nil {
		return nil, nil
	}
	res.Repeat = first.ID
	entry.CodeMajor, entry.CodeMinor = res.First().Major, res.First().Minor
	entry.Description = fmt.Sprintf("%s%d: nothing applied again", store.LiveRepeatPrefix, first.ID)
	entry.StateVersion = first.StateVersion
	entry.Duration = s.now().Sub(start)
	if err := l.LiveApply(ctx, store.LiveApplyParams{Entry: entry, Now: start}); err != nil {
		s.logger().Error("live request log", "tenant", t.ID, "err", err)
	}
	return &res, nil
}
