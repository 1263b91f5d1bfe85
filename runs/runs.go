// Package runs holds the run record: what one attempt to import one tenant's file did. Its JSON
// encoding is the contract of `--json` output (fields may be added, never renamed). It is a leaf
// shared by the importer, the stores, the mailer and the command line.
package runs

import (
	"time"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/safety"
)

// Status is where a run is in its life: running → completed | failed | held | skipped;
// held → completed (approved and applied) | rejected | superseded. Planned is a dry run.
type Status string

const (
	Running    Status = "running"
	Completed  Status = "completed"
	Failed     Status = "failed"
	Held       Status = "held"
	Skipped    Status = "skipped"
	Rejected   Status = "rejected"
	Superseded Status = "superseded"
	Planned    Status = "planned"
)

// ExitCode maps a run's status to the command's exit code: 0 completed, skipped or planned;
// 1 failed; 3 held.
func (s Status) ExitCode() int {
	switch s {
	case Failed:
		return 1
	case Held:
		return 3
	}
	return 0
}

// File describes the imported file.
type File struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// Modified is the file's modification time in the tenant's source (zero for a local file
	// given to `import`): a fetched file older than the last imported one is not imported.
	Modified time.Time `json:"modified,omitzero"`
}

// Decision is an operator's approval or rejection of a held run.
type Decision struct {
	By     string    `json:"by"`
	At     time.Time `json:"at"`
	Reason string    `json:"reason"`
}

// Undo is what an undo run undid: the runs (newest first; more than one with --cascade) and
// the operator's decision.
type Undo struct {
	Runs []int64 `json:"runs"`
	Decision
}

// ModeUndo is the Mode of an undo's own run.
const ModeUndo = "undo"

// ModeRollover is the Mode of a school-year rollover's run. A held rollover is superseded only
// by a newer rollover, never by a night's run, and its approval plans it again when the state
// changed since (it archives what is under the old year's node then).
const ModeRollover = "rollover"

// ModeRestore is the Mode of the run that records an operator's restore from the trash can or
// the archive, or a purge of the trash can: no file, no plan, Reason says what and who.
const ModeRestore = "restore"

// Error is why a run failed. Line and Column are 0 when the problem has no place in the file.
type Error struct {
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Key     string `json:"key,omitempty"`
	Message string `json:"message"`
	// Cause says what failed: CauseFile (the file's content: the nightly run does not import
	// the same file again), CauseInterrupted (a signal stopped the run), or "" (the store, the
	// lock, the source: the same file is tried again).
	Cause string `json:"cause,omitempty"`
}

// Causes of a failed run (Error.Cause).
const (
	CauseFile        = "file"
	CauseInterrupted = "interrupted"
)

// FileFault reports whether the run failed because of its file's content.
func (r *Run) FileFault() bool {
	return r.Status == Failed && r.Error != nil && r.Error.Cause == CauseFile
}

// HasFile reports whether the run is about a file, so that what shows a run has a file to
// name: false for a run that found none (an undo, a restore, a night without a new file) and
// for a school-year rollover, whose File.Name names the years it moves between, not a file.
func (r *Run) HasFile() bool {
	return r.File.Name != "" && r.Mode != ModeRollover
}

// Interrupted reports whether the run was stopped by a signal (Ctrl-C, SIGTERM).
func (r *Run) Interrupted() bool {
	return r.Status == Failed && r.Error != nil && r.Error.Cause == CauseInterrupted
}

// Run is one attempt to import one tenant's file.
type Run struct {
	ID         int64      `json:"run"`
	Tenant     string     `json:"tenant"`
	Status     Status     `json:"status"`
	Mode       string     `json:"mode,omitempty"`
	File       File       `json:"file"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	// Counts are what was applied or, for a held or planned run, what its plan would do.
	Counts   change.Counts    `json:"counts"`
	Verdict  safety.Verdict   `json:"verdict"`
	Warnings []record.Warning `json:"warnings"`
	// Attention lists what a person should look at (reappeared courses, kept records, ...).
	Attention []change.Notice `json:"attention"`
	Error     *Error          `json:"error"`
	Approval  *Decision       `json:"approval"`
	Rejection *Decision       `json:"rejection,omitempty"`
	// Undo, on an undo's own run, says which runs it undid (newest first), who and why. An
	// undo reads no file: File is empty, and the next night's file is imported whatever it is.
	Undo *Undo `json:"undo,omitempty"`
	// UndoneBy is the undo run that put back the state from before this run.
	UndoneBy int64 `json:"undone_by,omitempty"`
	// Slot is the scheduled slot of `imsfeed serve` this run was an attempt of (absent for
	// runs started by a command).
	Slot time.Time `json:"slot,omitzero"`
	// Reason says why a run was skipped (unchanged file, paused) or superseded.
	Reason        string `json:"reason,omitempty"`
	VersionBefore int64  `json:"state_version_before"`
	VersionAfter  int64  `json:"state_version_after"`
	// PlanSHA256 identifies the stored plan of a held run: approval applies exactly that plan.
	PlanSHA256 string `json:"plan_sha256,omitempty"`
	// Mail is the status mail's fate: "sent", "outbox" (written as a file), "queued" (SMTP
	// failed, waiting in the outbox queue), "dead-letter" (refused by the server max_tries
	// times), "unconfirmed" (the connection ended before the server answered the end of the
	// data) or "" when none was attempted yet. MailError says why.
	Mail      string `json:"mail,omitempty"`
	MailError string `json:"mail_error,omitempty"`
	// Unrecorded marks an attempt the store could not record (it could not be reached): it has
	// no run number (0), was mailed, and appears in no run history.
	Unrecorded bool `json:"unrecorded,omitempty"`
	// FetchWaitSeconds is how long the fetch waited for the source file to settle (0: the
	// file was taken at once); absent when the run fetched nothing (import, plan, a pause).
	FetchWaitSeconds *float64 `json:"fetch_wait_seconds,omitempty"`
	// HeldAt is when the run was held: its import ended there, and its plan waited for an
	// operator until Approval.At.
	HeldAt *time.Time `json:"held_at,omitempty"`
	// DurationSeconds is Duration when the run finished: the import's own time, never the
	// hours a held run waited for approval.
	DurationSeconds *float64 `json:"duration_seconds,omitempty"`
	// ApprovalWaitSeconds is ApprovalWait: how long an approved run waited for its approval.
	ApprovalWaitSeconds *float64 `json:"approval_wait_seconds,omitempty"`
	// AliveAt is the last sign of life of the process running the run, given every second
	// while it runs (store.Store.MarkAlive). FoundDeadAt is when a later run of the tenant
	// found that process gone (killed, crashed, power cut) and closed the run (its FinishedAt):
	// the run worked until AliveAt, and its Duration is that, not the time it lay dead.
	AliveAt     *time.Time `json:"alive_at,omitempty"`
	FoundDeadAt *time.Time `json:"found_dead_at,omitempty"`
}

// SetFetchWait records how long the fetch waited for the file to settle, to the millisecond.
func (r *Run) SetFetchWait(d time.Duration) {
	s := d.Round(time.Millisecond).Seconds()
	r.FetchWaitSeconds = &s
}

// FetchWait is how long the fetch waited, and whether the run fetched at all.
func (r *Run) FetchWait() (time.Duration, bool) {
	if r.FetchWaitSeconds == nil {
		return 0, false
	}
	return time.Duration(*r.FetchWaitSeconds * float64(time.Second)).Round(time.Millisecond), true
}

// Duration is how long the run took, or 0 while it runs. For an approved run it is the import
// up to the hold plus the apply after the approval: the wait in between is ApprovalWait. For a
// run whose process died it is the time up to its last sign of life (0 when it gave none: an
// imsfeed before 2026-12 recorded none).
func (r *Run) Duration() time.Duration {
	if r.FinishedAt == nil {
		return 0
	}
	if r.FoundDeadAt != nil {
		if r.AliveAt == nil {
			return 0
		}
		return max(r.AliveAt.Sub(r.StartedAt), 0)
	}
	if r.HeldAt != nil && r.Approval != nil && !r.Approval.At.Before(*r.HeldAt) {
		return r.HeldAt.Sub(r.StartedAt) + r.FinishedAt.Sub(r.Approval.At)
	}
	return r.FinishedAt.Sub(r.StartedAt)
}

// ApprovalWait is how long a held run waited for its approval, or 0.
func (r *Run) ApprovalWait() time.Duration {
	if r.HeldAt == nil || r.Approval == nil {
		return 0
	}
	return max(r.Approval.At.Sub(*r.HeldAt), 0)
}

// SetDurations records Duration and ApprovalWait in the run's JSON, to the millisecond.
func (r *Run) SetDurations() {
	secs := func(d time.Duration) *float64 { s := d.Round(time.Millisecond).Seconds(); return &s }
	if r.FinishedAt != nil {
		r.DurationSeconds = secs(r.Duration())
	}
	if r.HeldAt != nil && r.Approval != nil {
		r.ApprovalWaitSeconds = secs(r.ApprovalWait())
	}
}

// Past is the run as the safety backtest replays it.
func (r *Run) Past() safety.Past {
	p := safety.Past{
		Run:      r.ID,
		Start:    r.StartedAt.Unix(),
		Counts:   safety.CountsFrom(r.Counts),
		Held:     !r.Verdict.Passed,
		Tripped:  r.Verdict.Tripped,
		Applied:  r.Status == Completed,
		Accepted: r.Status == Completed && (r.Approval != nil || r.Undo != nil),
		// An undo, an operator's restore and a rollover (held whatever its size) are not
		// nights the filter decided: replaying them would only blur the suggestions.
		Replay: r.Undo == nil && r.Mode != ModeUndo && r.Mode != ModeRestore && r.Mode != ModeRollover,
	}
	switch {
	case r.Status == Rejected || r.UndoneBy != 0:
		p.Outcome = safety.Rejected
	case r.Status == Completed && r.Approval != nil:
		p.Outcome = safety.Approved
	case r.Status == Completed:
		p.Outcome = safety.Passed
	case r.Status == Held || r.Status == Superseded:
		p.Outcome = safety.Open
	default: // failed, skipped, planned, running: not a night the filter decided
		p.Replay = false
	}
	return p
}
