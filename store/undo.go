package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/imsfeed/imsfeed/runs"
)

// Undoer is the undo part of a store: Apply keeps the before-image of every row a run's plan
// touches with the run (in Apply's transaction), and Undo puts them back. Both stores
// implement it as part of Store.
type Undoer interface {
	// Undo puts the tenant back exactly as it was before run p.Of applied, in one transaction,
	// from the before-images Apply kept: rows the run inserted are removed, rows it updated,
	// trashed, archived, turned manual or deleted get their stored columns back, and the
	// tenant's school year goes back to the one before a rollover undone. The run must
	// be the tenant's latest applied change; with p.Cascade, the runs applied after it are
	// undone first (newest first, in the same transaction). Otherwise it returns a
	// *LaterChangesError and changes nothing; ErrNotFound when the run kept no before-images.
	// In the same transaction it bumps the state version once, saves p.Run (the undo's own run
	// record, which Undo creates and numbers) with its counts and versions, keeps the undo's own
	// before-images (so the undo can be undone) and marks each undone run's UndoneBy.
	Undo(ctx context.Context, p UndoParams) ([]int64, error)
	// DropUndo drops the before-images kept before the given time: of one tenant, or of all
	// when tenant is "". It returns how many change sets' images went.
	DropUndo(ctx context.Context, tenant string, before time.Time) (int, error)
	// UndoSize sums the stored size in bytes of a run's before-images (0 when it kept none).
	UndoSize(ctx context.Context, run int64) (int64, error)
}

// UndoParams are Undo's arguments.
type UndoParams struct {
	Tenant string
	// Of is the run to undo.
	Of int64
	// Cascade undoes the runs applied after Of first.
	Cascade bool
	// Run is the undo's own run record, not yet created (ID 0): Undo creates it in its
	// transaction (a refused undo leaves no record) and fills in its ID, counts and versions.
	Run *runs.Run
	// Now stamps the undo's own before-images (they expire after undo_days like any).
	Now time.Time
}

// LaterChangesError is Undo's refusal: the run is not the tenant's latest applied change.
type LaterChangesError struct {
	Run int64
	// Later are the runs applied after it, newest first.
	Later []int64
	// Unrecorded: the state also changed in a way that kept no before-images (a trash or
	// archive restore, a purge, the live channel, a run under undo_days 0 or whose images
	// expired), so not even a cascade can go back past it.
	Unrecorded bool
}

func (e *LaterChangesError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "run %d is not the tenant's latest applied change", e.Run)
	if len(e.Later) > 0 {
		ids := make([]string, len(e.Later))
		for i, id := range e.Later {
			ids[i] = fmt.Sprint(id)
		}
		fmt.Fprintf(&b, ": run %s came after it", strings.Join(ids, ", "))
	}
	if e.Unrecorded {
		b.WriteString("; the state also changed since in a way that kept no before-images (a trash or archive restore, a purge, the live channel, or a run whose before-images were not kept or have expired)")
	}
	return b.String()
}

// Dumper is implemented by both stores, for tests: every row of every table that holds the
// tenant's rows, except the run records, what undo keeps and the state index (derived from
// the rows; IndexChecker compares them), as sorted lines of text by
// table (time columns in UTC). Two dumps are equal when the tenant's state is.
type Dumper interface {
	Dump(ctx context.Context, tenant string) (map[string][]string, error)
}
