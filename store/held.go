package store

import (
	"iter"

	"github.com/imsfeed/imsfeed/archive"
	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
)

// A held run's plan is one document (what approval applies, byte for byte). Its page needs
// the changes one screen at a time and searched, so a hold also keeps them as rows of a
// table, written in the hold's transaction, and the removals breakdown computed at the hold:
// a view of a hold of 500,000 changes costs a few queries, not the plan. The rows go when the
// hold is decided (approved, rejected or superseded): a decided run's page shows its counts.

// HeldChange is one change of a held plan as the console lists it.
type HeldChange struct {
	Type record.Type // persons, groups or memberships
	Op   change.Op
	// Key and Name: the person or group; for a membership its group.
	Key, Name string
	// Member, MemberName and Role: a membership's member and role.
	Member, MemberName, Role string
	Course                   bool
	// Fields: what an update changes, old → new.
	Fields []change.Field
}

// HeldIndex is what a hold keeps for its page besides the plan.
type HeldIndex struct {
	// Changes yields the plan's changes in the order the page lists them (it is called once,
	// inside the hold's transaction, so that the rows need not all be in memory at once).
	Changes iter.Seq[*HeldChange]
	// Err, when set, is asked once Changes is read through: an error it gives (the changes'
	// source failed, so Changes ended early) fails the hold.
	Err func() error
	// Removals is "where the removals come from", as archive.Removals made it at the hold.
	Removals []archive.GroupRemovals
}

// HeldQuery asks for one page of a held run's changes.
type HeldQuery struct {
	// Type keeps one type of change; AllTypes keeps every type (Type is then ignored).
	Type     record.Type
	AllTypes bool
	// Search keeps the changes whose key, name, member, member name or old name contains it,
	// ignoring case ("" keeps all).
	Search string
	// Offset and Limit choose the page (Limit 0 means 50).
	Offset, Limit int
}

// HeldPage is one page of a held run's changes.
type HeldPage struct {
	Changes  []HeldChange
	Matched  int // changes the query matches, over all pages
	All      int // changes the hold has
	Removals []archive.GroupRemovals
}
