// Package safety is the safety filter: it turns a change set's counts and a tenant's policy into
// a verdict. It is pure: no I/O, no clock, no logging; everything it needs is in its arguments.
package safety

import "github.com/imsfeed/imsfeed/record"

// Op is an operation kind the filter limits.
type Op string

const (
	Inserts Op = "inserts"
	Updates Op = "updates"
	Deletes Op = "deletes"
)

// Ops lists the operations in report order.
var Ops = [...]Op{Inserts, Updates, Deletes}

// TypeCounts are one record type's numbers for the filter. Restores are already in Inserts;
// archivals and cascaded membership removals are already in Deletes.
type TypeCounts struct {
	Base    int `json:"base"` // active synced objects before the run
	Inserts int `json:"inserts"`
	Updates int `json:"updates"`
	Deletes int `json:"deletes"`
	// Earlier is what the rolling window saw before this run (zero: nothing removed in it).
	Earlier Earlier `json:"earlier"`
}

// Earlier is the rolling window before this run: the removals that runs within the window
// applied, and the type's base at the window's start (the importer reads both from the run
// records). Check adds this run's removals to Deletes and limits the sum against Base.
type Earlier struct {
	Base    int `json:"base"`
	Deletes int `json:"deletes"`
}

// Counts are the filter's input, indexed by record.Type.
type Counts [record.NumTypes]TypeCounts

// Of returns the counts of one operation.
func (c TypeCounts) Of(op Op) int {
	switch op {
	case Inserts:
		return c.Inserts
	case Updates:
		return c.Updates
	case Deletes:
		return c.Deletes
	}
	return 0
}

// Limit caps one (type, operation). A nil field is no limit of that kind.
type Limit struct {
	MaxPercent *float64 `json:"max_percent"`
	MaxCount   *int     `json:"max_count"`
}

// TypePolicy holds the limits of one record type. MinChanges, when set, overrides the
// tenant-wide value for this type.
type TypePolicy struct {
	Inserts    Limit `json:"inserts"`
	Updates    Limit `json:"updates"`
	Deletes    Limit `json:"deletes"`
	MinChanges *int  `json:"min_changes,omitempty"`
}

// OnTrip says what a tripped limit holds back.
type OnTrip string

const (
	// Stop applies nothing: the whole run is held (the default).
	Stop OnTrip = "stop"
	// HoldRemovals applies inserts and updates; deletes and archivals wait for approval.
	HoldRemovals OnTrip = "hold-removals"
)

// Policy is one tenant's safety policy.
type Policy struct {
	MinChanges      int    `json:"min_changes"`
	HoldInitialLoad bool   `json:"hold_initial_load"`
	OnTrip          OnTrip `json:"on_trip"`
	// WindowDays is the rolling window, in days, over which removals are limited too (0: none).
	WindowDays int `json:"window_days"`
	// MaxSkipped caps the records of one type a run may skip as bad (see CheckSkipped).
	MaxSkipped Limit                       `json:"max_skipped"`
	Types      [record.NumTypes]TypePolicy `json:"-"` // indexed by record.Type
}

// Trip is one limit crossed.
type Trip struct {
	Type       string   `json:"type"` // persons, groups, memberships, relations
	Op         Op       `json:"op"`
	Count      int      `json:"count"`
	Base       int      `json:"base"`
	Percent    float64  `json:"percent"`
	MaxPercent *float64 `json:"max_percent"`
	MaxCount   *int     `json:"max_count"`
	// Window is set on a trip of the rolling window, e.g. "7d": Count is then the removals
	// applied within it plus this run's, and Base the base at the window's start.
	Window string `json:"window,omitempty"`
}

// Verdict is the filter's decision. Passed is true when no limit tripped.
type Verdict struct {
	Passed  bool   `json:"passed"`
	Tripped []Trip `json:"tripped"`
	// OnTrip is the tenant's choice when the verdict did not pass: what is held back.
	OnTrip OnTrip `json:"on_trip,omitempty"`
}
