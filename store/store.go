// Package store is the seam between imsfeed and its state: tenants' synced persons, groups,
// memberships and relations, their state versions, the run records and held plans. store/postgres (lib/pq,
// production) and store/sqlite (modernc.org/sqlite, the embedded default) implement it, and
// store/storetest holds the one conformance suite both pass. Open picks one by URL scheme.
package store

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/runs"
)

// Errors every implementation returns in place of its driver's errors.
var (
	// ErrNotFound: the run, plan or tenant object asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrStateChanged: Apply was given a plan made against another state version.
	ErrStateChanged = errors.New("tenant state changed since the plan was made")
	// ErrLocked: another run of the tenant holds its lock past the wait.
	ErrLocked = errors.New("another run of this tenant is in progress")
	// ErrNewerStore: opening refused a store a newer imsfeed migrated (changing nothing).
	ErrNewerStore = errors.New("the store was upgraded by a newer imsfeed")
)

// Store is a tenant-state store. All methods are safe for concurrent use.
type Store interface {
	// LockTenant takes the tenant's run lock (PostgreSQL: an advisory lock held on a dedicated
	// connection; SQLite: an in-process and file lock), waiting up to wait. It returns
	// ErrLocked when the lock is still held after wait. release must be called exactly once.
	LockTenant(ctx context.Context, tenant string, wait time.Duration) (release func(), err error)

	// LoadState returns the tenant's whole state (active and trashed persons, active and
	// archived groups, synced and manual memberships), its state version (0 for a tenant
	// never imported) and the school year a rollover made current ("" when none did).
	LoadState(ctx context.Context, tenant string) (*change.State, error)

	// Apply applies the plan in one transaction if the tenant's state version is still
	// plan.BaseVersion, else returns ErrStateChanged and changes nothing. In the same
	// transaction it increments the state version (when the plan is not empty or makes another
	// school year current), sets
	// run.VersionBefore and run.VersionAfter, makes plan.SchoolYear (when set) the tenant's
	// school year, and saves the run record (SaveRun semantics), so
	// state and run record never disagree. now stamps trashed_at / archived_at. With Hold set,
	// the run is saved as held with that plan (HoldRun semantics) in the same transaction:
	// on_trip hold-removals applies part of a plan and holds the rest, never one without the
	// other.
	Apply(ctx context.Context, p ApplyParams) error

	// CreateRun inserts a new run record and sets run.ID.
	CreateRun(ctx context.Context, run *runs.Run) error
	// SaveRun overwrites a run record (by run.ID). ErrNotFound if it does not exist.
	SaveRun(ctx context.Context, run *runs.Run) error
	// MarkAlive records at as the last sign of life of running run id's process: ListRuns
	// gives it as the run's AliveAt while the run is still running (the process may have
	// died). A run no longer running is left as it is; a zero at says the run's process is done
	// with it (the mark may go). It does not wait for an import's write transaction.
	MarkAlive(ctx context.Context, id int64, at time.Time) error
	// HoldRun saves a held run together with its encoded plan, in one transaction, and, when
	// idx is not nil, the plan's changes as rows for its page (see HeldChanges). It fills in
	// run.PlanSHA256 (of the plan's bytes) when it is empty.
	HoldRun(ctx context.Context, run *runs.Run, plan HeldPlan, idx *HeldIndex) error
	// IndexHeld keeps a held run's changes as rows for its page, replacing any it kept: for a
	// hold made before holds kept them. ErrNotFound when the run is not held.
	IndexHeld(ctx context.Context, runID int64, idx *HeldIndex) error
	// HeldChanges returns one page of a held run's changes, searched and counted by the
	// store, with the removals breakdown kept at the hold. ErrNotFound when the run keeps no
	// rows: a hold made without them, or a decided one (saving a run that is no longer held
	// drops its rows).
	HeldChanges(ctx context.Context, runID int64, q HeldQuery) (*HeldPage, error)
	// Plan reads the plan bytes a held run stored, exactly as given, a part at a time.
	// ErrNotFound if none.
	Plan(ctx context.Context, runID int64) (io.ReadCloser, error)
	// SupersedeHeld marks the tenant's held runs older than newer as superseded (reason
	// given) and returns them after the change. Only runs of newer's kind are superseded: a
	// rollover (runs.ModeRollover) supersedes held rollovers, any other run the others.
	SupersedeHeld(ctx context.Context, tenant string, newer int64, reason string) ([]*runs.Run, error)
	// Run returns one run record. ErrNotFound if it does not exist.
	Run(ctx context.Context, id int64) (*runs.Run, error)
	// ListRuns returns run records, newest first.
	ListRuns(ctx context.Context, p ListRunsParams) ([]*runs.Run, error)
	// LastRun returns the tenant's newest run with one of the statuses (any status when none
	// are given). ErrNotFound if there is none.
	LastRun(ctx context.Context, tenant string, statuses ...runs.Status) (*runs.Run, error)

	// Status returns what the store holds for a tenant now (zeros for an unknown tenant).
	Status(ctx context.Context, tenant string) (TenantStatus, error)
	// StateVersion returns only the tenant's state version (0 for an unknown tenant): what a
	// page asks on every view, without Status's row counts.
	StateVersion(ctx context.Context, tenant string) (int64, error)

	// StoredRecords returns the stored persons and groups with the given keys, with their
	// stored fields (what an update replaces: reports show old → new). Keys the store does not
	// have are left out; hashes are not filled in.
	StoredRecords(ctx context.Context, tenant string, persons, groups []string) (map[string]record.Person, map[string]record.Group, error)

	// ListTrash lists the tenant's trashed persons, oldest first.
	ListTrash(ctx context.Context, tenant string) ([]Item, error)
	// RestoreTrash makes trashed persons active again (their memberships do not come back:
	// the next import re-creates them). It bumps the state version when anything changed and
	// returns how many were restored. Unknown or not-trashed keys are ErrNotFound.
	// With rec, the run it describes is recorded in the same transaction.
	RestoreTrash(ctx context.Context, tenant string, keys []string, rec *RunRecord) (int, error)
	// PurgeTrash hard-deletes trashed persons: the given keys, or all trashed before the given
	// time when keys is empty. It bumps the state version when anything changed.
	PurgeTrash(ctx context.Context, tenant string, p PurgeParams) (int, error)
	// ListArchived lists the tenant's archived courses, oldest first.
	ListArchived(ctx context.Context, tenant string) ([]Item, error)
	// SearchTrash and SearchArchived are ListTrash and ListArchived searched and paged in the
	// store (a tenant can have 50,000 persons in the trash can): the page q asks for and how
	// many items match in all.
	SearchTrash(ctx context.Context, tenant string, q ItemQuery) ([]Item, int, error)
	SearchArchived(ctx context.Context, tenant string, q ItemQuery) ([]Item, int, error)
	// RestoreArchived makes archived courses active again, without parents and with a zero
	// content hash, so the next import rewrites them from the file (parents included). The
	// memberships their archival turned manual keep the feed's hash (the platform's own manual
	// memberships have a zero hash): a plan's insert of such a key makes it synced again. It
	// bumps the state version. Unknown or not-archived keys are ErrNotFound.
	// With rec, the run it describes is recorded in the same transaction.
	RestoreArchived(ctx context.Context, tenant string, keys []string, rec *RunRecord) (int, error)

	// ListRelations lists the tenant's relations between persons, by person, related person
	// and type.
	ListRelations(ctx context.Context, tenant string, p ListRelationsParams) ([]Relation, error)

	// AddManualMembership records a membership the import did not make (the platform side
	// does this; tests use it). The import never touches it.
	AddManualMembership(ctx context.Context, tenant string, m ManualMembership) error

	Undoer

	// Close releases the store's connections.
	Close() error
}

// RunCounter counts run records by tenant and status, for /metrics. Both stores implement it;
// the console type-asserts a Store to it.
type RunCounter interface {
	CountRuns(ctx context.Context) ([]RunCount, error)
}

// IndexChecker compares a tenant's compact state index (what an import reads in place of
// every person and membership row) with the rows, and rebuilds it from them. Both stores
// implement it; `imsfeed check` type-asserts a Store to it.
type IndexChecker interface {
	// CheckIndex builds the index from the tenant's rows under the tenant's write lock and
	// compares it with the stored one; with repair, a differing or stale index is replaced.
	CheckIndex(ctx context.Context, tenant string, repair bool) (*IndexReport, error)
}

// PlannerStats is a store whose query planner works from statistics of its tables that the
// database gathers in the background (PostgreSQL: autovacuum's ANALYZE, up to a minute or more
// after a write). A tenant's initial load can make most of a table's rows at once; until they
// are analysed, the next night's statements are planned as if they were not there (a lookup
// of a few hundred persons by key read every row of the tenant). The importer calls
// RefreshStats after such a write has committed, outside its transaction.
type PlannerStats interface {
	// RefreshStats analyses each table (persons, groups, memberships, relations) to which
	// added gives as many rows as autovacuum would analyse it for (a tenth of what the table
	// held), or for which the planner expects less than a tenth of the rows added to tenant
	// (a tenant the statistics do not know yet), with at least a floor that keeps small
	// tenants out, and returns the tables it analysed. It gives up on a table another session
	// is vacuuming or analysing (whose statistics are then on their way) and returns that as
	// an error with the others.
	RefreshStats(ctx context.Context, tenant string, added map[string]int) (analysed []string, err error)
}

// EarlyWriter is a store that can start an initial load's apply while the file is still being
// read: the persons and memberships, nearly all the rows, are written into their tables as
// the diff takes them (PostgreSQL: copied, so the server's work overlaps the reading; SQLite:
// inserted on a goroutine of their own, on the second core). It is an optimisation only: the
// rows go in inside the transaction the apply commits, and Abort rolls them back.
type EarlyWriter interface {
	// EarlyInserts opens the apply's transaction for tenant, whose state is at version and
	// whose memberships table holds none of its rows; nil (and no error) when it cannot. On
	// SQLite that is the database's one write transaction: until the apply or Abort ends it,
	// every other write (of any tenant, any process) waits for it, so the caller writes
	// nothing else meanwhile (its run record before, not after).
	EarlyInserts(ctx context.Context, tenant string, version int64) (EarlyInserts, error)
}

// EarlyInserts are persons and memberships written early, in file order, in an open
// transaction: passed as ApplyParams.Early, the apply writes the rest of its plan in that
// transaction and commits. The plan lists few of them (change.Plan.Early counts the rest):
// the store keeps what the apply needs of them (state index entries, undo keys) as it writes
// them.
type EarlyInserts interface {
	// Person writes one person the diff takes as new; only for a tenant without persons
	// stored (else Done fails). Once one is written, the plan's persons are all written early.
	Person(*record.Person)
	// Membership writes one membership the diff takes as new. Person and Membership may wait
	// for the database (a bounded queue); a failure shows in Done.
	Membership(*record.Membership)
	// Done ends the writing and says how many persons and memberships were written, or why
	// not all of them were (a key given twice, a lost connection): then the plan must be made
	// again without them, and Abort called.
	Done() (change.PerType, error)
	// Abort rolls the transaction back (nothing was written). It may be called again, and
	// after an apply that used the inserts (then it does nothing).
	Abort()
}

// StagedLoader is a store that loads a tenant's state in two stages, so that its groups and
// memberships (90% of a state) load beside the reading of a file's persons instead of before
// it: an IMS file lists persons, then groups, then memberships, and the diff needs the stored
// groups and memberships only from the first membership on (groups are held back until the
// file is read). Both stores implement it; the importer type-asserts a Store to it.
type StagedLoader interface {
	// LoadStateStaged is LoadState with the groups and memberships still loading: st.Groups
	// and st.Memberships are nil until rest.Wait(st) sets them, read from the same snapshot
	// as the rest of st. When the tenant's state index is current, Wait sets st.Stored in
	// place of st.Memberships: a source read (by one goroutine at a time) in that snapshot
	// until rest is closed, so the memberships are never all in memory. The caller must Close
	// rest.
	LoadStateStaged(ctx context.Context, tenant string) (st *change.State, rest RestLoad, err error)
}

// MembershipScanner is a store that gives a tenant's state without its memberships and reads
// the memberships of some groups from their rows in key order, a row at a time, as often as
// asked: a school-year rollover, which turns most of a large tenant's memberships manual,
// counts, holds and lists its changes so instead of holding every membership and every change
// (the 1 GB feed's tenant: 4.7 million memberships, 2.35 million of them changed). Both stores
// implement it; the importer type-asserts a Store to it.
type MembershipScanner interface {
	// LoadStateScanned is LoadState with st.Memberships empty, and what scans them; its
	// persons are st.StoredPersons (st.Persons nil), an index that keeps every person's name
	// (change.LoadNamedPersonIndex) and reads nothing again.
	LoadStateScanned(ctx context.Context, tenant string) (*ScannedState, error)
}

// ScannedState is a tenant's state without its memberships (MembershipScanner).
type ScannedState struct {
	*change.State
	// Synced is how many of its memberships are synced.
	Synced int
	// CountSynced counts the synced memberships of the groups of keys groups (sorted, each
	// once), in a read transaction of its own, as Scan reads them: without a row given (a
	// rollover's count of the memberships it turns manual), and ErrStateChanged once the
	// state is no longer at Version.
	CountSynced func(groups []string) (int, error)
	// Scan gives, in key order (record.MembershipKey.Compare), the stored memberships (synced
	// and manual) of the groups of keys groups (sorted, each once) and every one whose member
	// is a group, wherever it is: a rollover's changes are among them. Each call reads them
	// again, in a read transaction of its own: once the tenant's state is no longer at
	// Version, it gives none and fails with ErrStateChanged. fn's first error ends the reading
	// and is returned. Scan must not be called once the load's context is done.
	Scan func(groups []string, fn func(record.MembershipKey, change.MembershipState) error) error
}

// RestLoad is the rest of a state (its groups and memberships) being loaded on a goroutine of
// its own.
type RestLoad interface {
	// None reports, without waiting, whether the state holds no memberships at all (an
	// initial load).
	None() bool
	// Wait waits until the groups and memberships are all loaded (or, st.Stored, ready to be
	// read) and sets st's (the state LoadStateStaged returned) to them, or returns the error
	// that stopped the load and
	// leaves st as it was: never a part of them (a diff against some memberships would
	// remove the rest). It may be called again, from another goroutine once the first call
	// returned, and does the same.
	Wait(st *change.State) error
	// Close stops the load if it still runs and returns once its goroutine and read
	// transaction are done. Wait then returns an error, unless the load had finished; a
	// source Wait gave (st.Stored) gives none after Close, only an error.
	Close()
}

// IndexReport is what CheckIndex found. The index is used only while IndexVersion equals
// StateVersion; a stale one is rebuilt by the next import (or by a repair).
type IndexReport struct {
	Tenant       string   `json:"tenant"`
	StateVersion int64    `json:"state_version"`
	IndexVersion int64    `json:"index_version"`
	Persons      int      `json:"persons"`     // in the rows
	Memberships  int      `json:"memberships"` // in the rows
	Missing      int      `json:"missing"`     // in the rows, not in the index
	Extra        int      `json:"extra"`       // in the index, not in the rows
	Different    int      `json:"different"`   // in both, with other values
	Unreadable   string   `json:"unreadable,omitempty"`
	Examples     []string `json:"examples,omitempty"` // the first differing records
	Repaired     bool     `json:"repaired"`
}

// Stale reports whether the index describes another state version (it is not used then).
func (r *IndexReport) Stale() bool { return r.IndexVersion != r.StateVersion }

// OK reports whether the index is current and agrees with the rows.
func (r *IndexReport) OK() bool {
	return !r.Stale() && r.Missing+r.Extra+r.Different == 0 && r.Unreadable == ""
}

// RunCount is how many runs of one tenant have one status.
type RunCount struct {
	Tenant string
	Status runs.Status
	N      int
}

// ApplyParams are Apply's arguments.
type ApplyParams struct {
	Plan *change.Plan
	Run  *runs.Run
	Now  time.Time
	// Hold, when not nil, is the encoded plan the run holds for approval (the run's status
	// should be held); it needs Run.
	Hold HeldPlan
	// HoldIndex, with Hold, is the held plan's changes as rows for its page (HoldRun's idx).
	HoldIndex *HeldIndex
	// NoUndo keeps no before-images of this apply (the tenant's undo_days is 0): the run
	// cannot be undone, nor any run before it. Without it, an apply with a recorded run keeps
	// them in the same transaction.
	NoUndo bool
	// Early, when set, are the plan's membership inserts (and, when Done counted persons, its
	// person inserts) already written in the apply's transaction: the ones Plan lists and
	// Plan.Early more, every one Done counted. Apply writes the rest in that transaction. A
	// plan with Early needs them.
	Early EarlyInserts
	// Pieces, when set, gives the plan's changes in pieces, each a Plan with changes of one
	// list only, in the plan's order (persons, groups, memberships, relations), every time it
	// is called; Plan then holds none of them, only the rest (tenant, base version, school
	// year). Apply calls it several times (to check, to keep the before-images, then to write
	// in its order), so that a held plan of 500,000 changes is never whole in memory. Each call
	// must give the same changes, else return an error: any error ends the apply, changing
	// nothing. Not with Hold or Early.
	Pieces func(each func(piece *change.Plan) error) error
	// Progress, when set, is told now and then how many of the plan's changes are written
	// (for a progress display; the commit comes after the last call). It must be quick.
	Progress func(done, total int)
}

// HeldPlan gives a plan's encoding to store in pieces, in order, to yield: each is kept as a
// part of its own, so that the whole encoding need never be in memory (a hold of 500,000
// changes is a JSON document of 74 MB). It returns yield's first error.
type HeldPlan func(yield func(piece []byte) error) error

// WholePlan is a plan already encoded, given in one piece.
func WholePlan(b []byte) HeldPlan {
	return func(yield func([]byte) error) error { return yield(b) }
}

// ListRunsParams filter ListRuns. Zero values mean no filter; Limit 0 means 100.
type ListRunsParams struct {
	Tenant string
	Status []runs.Status
	Limit  int
}

// PurgeParams choose what PurgeTrash removes.
type PurgeParams struct {
	Keys   []string
	Before time.Time
	// Record, when set, is the run the purge is recorded as, in the same transaction.
	Record *RunRecord
}

// RunRecord is the run an operator's restore or purge is recorded as, in the transaction that
// makes the change: a crash leaves both or neither. When something changed, the store sets the
// run's state versions, calls Describe with how many keys it changed and the tenant's counts
// before and after (read in that transaction), and inserts the run (setting Run.ID). When
// nothing changed, nothing is recorded.
type RunRecord struct {
	Run *runs.Run
	// Describe is given the keys changed (each once) and the tenant's counts before and after.
	Describe func(run *runs.Run, keys []string, before, after TenantStatus)
}

// Item is a trashed person or an archived course.
// ItemQuery picks a page of the trash can or the archive. Search keeps the items whose key or
// name contains it, ignoring the case of ASCII letters ("" keeps all); Limit 0 means no limit.
type ItemQuery struct {
	Search        string
	Offset, Limit int
}

type Item struct {
	Key   string    `json:"key"`
	Name  string    `json:"name"`
	Since time.Time `json:"since"`
	Run   int64     `json:"run"`
}

// ManualMembership is a membership created outside the import.
type ManualMembership struct {
	Group      string
	Member     string
	Role       string
	MemberType int
}

// TenantStatus is what the store holds for a tenant.
type TenantStatus struct {
	Tenant       string `json:"tenant"`
	StateVersion int64  `json:"state_version"`
	Persons      struct {
		Active  int `json:"active"`
		Trashed int `json:"trashed"`
	} `json:"persons"`
	Groups struct {
		Active   int `json:"active"`
		Archived int `json:"archived"`
	} `json:"groups"`
	Memberships struct {
		Synced int `json:"synced"`
		Manual int `json:"manual"`
	} `json:"memberships"`
	Relations struct {
		Active int `json:"active"`
	} `json:"relations"`
}

// Relation is a stored relation between persons, with both persons' stored names.
type Relation struct {
	Person      string       `json:"person"`
	PersonName  string       `json:"person_name"`
	Related     string       `json:"related"`
	RelatedName string       `json:"related_name"`
	Type        string       `json:"type"`
	Attrs       record.Attrs `json:"attrs,omitempty"`
}

// ListRelationsParams filter ListRelations. Person, when set, keeps the relations naming that
// person either way (a pupil's carers, and the pupils a carer is named by).
type ListRelationsParams struct {
	Person string
}
