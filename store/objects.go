package store

import (
	"context"
	"time"

	"github.com/imsfeed/imsfeed/record"
)

// Objects reads single persons and groups as stored, for the console's search and its person
// and group pages. Every read is by index and bounded: a tenant may hold 300,000 persons.
// Both stores implement it; the console type-asserts a Store to it.
type Objects interface {
	// SearchObjects lists the tenant's persons or groups (p.Type) whose key or name contains
	// p.Query, ignoring case (Unicode simple case folding, whatever the database's locale),
	// in key order after p.After, at most p.Limit (0 means 50). Trashed persons and archived
	// groups are found too.
	SearchObjects(ctx context.Context, p SearchParams) ([]Object, error)
	// StoredPerson returns one person (active or trashed) with its memberships (synced and
	// manual, by group key). ErrNotFound if the tenant has no such person.
	StoredPerson(ctx context.Context, tenant, key string) (*PersonDetail, error)
	// StoredGroup returns one group (active or archived) with its number of members.
	// ErrNotFound if the tenant has no such group.
	StoredGroup(ctx context.Context, tenant, key string) (*GroupDetail, error)
	// GroupMembers lists a group's memberships in (member, role) order after p.After, at most
	// p.Limit (0 means 50), each with its member's stored name.
	GroupMembers(ctx context.Context, p MembersParams) ([]MembershipDetail, error)
}

// SearchParams are SearchObjects' arguments.
type SearchParams struct {
	Tenant string
	Type   record.Type // record.Persons or record.Groups
	Query  string      // "" matches all
	After  string      // the last key of the previous page
	Limit  int
}

// Object is one search hit.
type Object struct {
	Key    string
	Name   string
	Status string // "active", "trashed" (persons) or "archived" (groups)
	Course bool   // a group the tenant's courses.types called a course when it was stored
}

// PersonDetail is a person as stored.
type PersonDetail struct {
	StoredPerson
	TrashedAt  time.Time // zero when active
	TrashedRun int64
	// Memberships are the person's memberships as a person member, by group and role; Name is
	// the group's stored name.
	Memberships []MembershipDetail
}

// GroupDetail is a group as stored.
type GroupDetail struct {
	StoredGroup
	ArchivedAt  time.Time // zero when active
	ArchivedRun int64
	Members     int // its memberships (synced and manual), every role counted
}

// MembershipDetail is a stored membership with the name of its other side: the group's on a
// person's page, the member's on a group's page ("" when the store has no such object).
type MembershipDetail struct {
	record.MembershipKey
	MemberType record.MemberType
	Manual     bool
	Name       string
}

// MembersParams are GroupMembers' arguments.
type MembersParams struct {
	Tenant, Group string
	// After is the (member, role) of the previous page's last row; zero for the first page.
	After record.MembershipKey
	Limit int
}
