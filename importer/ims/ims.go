// Package ims reads IMS Enterprise 1.1 XML exports into Person, Group and Membership records.
//
// Read streams the file through a hand-written, strict XML scanner (faster than encoding/xml
// and flat in memory: only the record being read is held) and hands each record to a Handler.
// Bad input is either fatal (an *Error naming file, line:column and record) or record-level
// (a warning, and the record is listed in Result.Skipped so the diff keeps its stored copy).
// Tenant vendor-extension mappings are XPath expressions evaluated with
// github.com/antchfx/xmlquery on the record's own subtree.
package ims

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/imsfeed/imsfeed/record"
)

// Mode says how a file relates to the stored state (DESIGN.md, "Modes").
type Mode string

const (
	ModeSnapshot Mode = "snapshot" // the file is the whole truth; the default
	ModeEvent    Mode = "event"    // only what is in the file changes
	ModeAuto     Mode = "auto"     // properties/type "delta" → event, else snapshot
)

// Mapping is one tenant vendor-extension mapping: the XPath is evaluated on the subtree of
// each record of Type and its trimmed string value is stored as attribute "x.<Name>". A mapping
// of Type record.Relations is evaluated on each person: every node it selects (or the string
// it yields) is the key of a related person, and Name is the relation's type.
type Mapping struct {
	Name  string
	Type  record.Type
	XPath string
}

// Options tune one Read.
type Options struct {
	// Lenient repairs a bare '&' and junk after </enterprise>, each repair a warning.
	Lenient bool
	// Mode decides whether duplicate keys are fatal (only in an effective snapshot); "" is snapshot.
	Mode Mode
	// Mappings are the tenant's vendor-extension mappings. Only records of a type with
	// mappings pay for building an xmlquery tree.
	Mappings []Mapping
	// MaxSize is the largest accepted input in bytes; 0 means no limit.
	MaxSize int64
	// SkipDuplicateCheck leaves duplicate keys to the caller. The importer's diff finds them
	// with the per-key state it holds anyway, so the reader's memory stays flat in file size;
	// the reader's own check costs 8–16 bytes per record.
	SkipDuplicateCheck bool
	// Aside builds the records (and their content hashes) and calls the handler on a goroutine
	// of its own, beside the scanning, one record at a time in file order: the scanner alone
	// bounds a large import's time. The records, warnings, Result and errors are those of a
	// Read without it (an error is the first in file order, whichever goroutine found it).
	Aside bool
	// Encoding "utf-8" reads the file as UTF-8 whatever its declaration says; "" follows the
	// declaration (and fails a file declared single-byte that is evidently UTF-8).
	Encoding string
	// Limits against hostile or broken input; 0 means the default. MaxAttributes caps the
	// attributes of one element, MaxRecordSize what one record (a membership: one member at a
	// time) holds in memory, MaxTextSize one text node or attribute value, in bytes.
	MaxAttributes int
	MaxRecordSize int64
	MaxTextSize   int64
}

// Handler receives the records. Records are fresh allocations; the handler may keep them.
// An error from the handler stops Read, which returns it. With Options.Aside the handler is
// called from a goroutine of Read's (never two calls at once).
type Handler interface {
	Person(*record.Person) error
	Group(*record.Group) error
	Membership(*record.Membership) error // one call per member × role
}

// RelationHandler is a Handler that also takes relations between persons. A handler without it
// is not given them (they are still counted). Relation is called after the Person naming it,
// once per (related person, type).
type RelationHandler interface {
	Relation(*record.Relation) error
}

// Properties are the file's <properties>. Type is e.g. "full" or "delta".
type Properties struct {
	DataSource, Type, DateTime string
}

// Skipped is a record-level skip: in a snapshot the diff must keep its stored counterpart.
// Key is set for persons and groups; Group and Member (when known) for memberships; for a
// relation, Key is the person whose record named it (all their stored relations are kept).
type Skipped struct {
	Type          record.Type
	Key           string
	Group, Member string
	Line, Column  int
}

// Result is what a Read found besides the records themselves.
type Result struct {
	Counts     [record.NumTypes]int // records handed to the handler, indexed by record.Type
	Warnings   []record.Warning
	Properties Properties
	Mode       Mode // effective mode: snapshot or event
	Skipped    []Skipped
	// EmptyMemberships are the group keys of <membership> elements without any member (the
	// XSD forbids them): in a snapshot the diff must not silently empty those groups.
	EmptyMemberships []string
}

// Error is a fatal reader error: the whole file is rejected.
type Error struct {
	File         string
	Line, Column int
	Key          string // the record's key, when known
	Msg          string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
	}
	if e.Line > 0 {
		if b.Len() > 0 {
			b.WriteByte(':')
		}
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Column))
	}
	if e.Key != "" {
		if b.Len() > 0 {
			b.WriteString(": ")
		}
		fmt.Fprintf(&b, "record %s", e.Key)
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Read reads one IMS Enterprise file from r and hands its records to h. name is the file name
// used in errors. Fatal input problems are returned as *Error; ctx is checked between records.
// With an error, the Result (when not nil) holds what was read before it.
func Read(ctx context.Context, r io.Reader, name string, opts Options, h Handler) (*Result, error) {
	switch opts.Mode {
	case "", ModeSnapshot, ModeEvent, ModeAuto:
	default:
		return nil, fmt.Errorf("read %s: unknown mode %q (want snapshot, event or auto)", name, opts.Mode)
	}
	maps, err := compileMappings(opts.Mappings)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	p := newParser(ctx, name, opts, h, maps)
	return p.run(r)
}
