package importer

import (
	"context"
	"errors"
	"fmt"

	"github.com/imsfeed/imsfeed/archive"
	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/store"
)

// heldIndexer returns what makes a held plan's page rows: the console pages and searches them
// in the store instead of reading the plan (a hold of 500,000 changes is hundreds of MB
// decoded). Names a change gives only by key come from the plan, else from st; the removals
// breakdown is the one made with the plan.
func heldIndexer(st *change.State, removals []archive.GroupRemovals) heldIndexFunc {
	return func(p *change.Plan, memberships membershipSource) *store.HeldIndex {
		var failed error
		return &store.HeldIndex{Changes: heldChangesOf(p, st, memberships, &failed), Err: func() error { return failed }, Removals: removals}
	}
}

// heldIndexFunc makes a held plan's page rows, of its membership changes memberships' when
// that is not nil (as heldChangesOf).
type heldIndexFunc func(p *change.Plan, memberships membershipSource) *store.HeldIndex

// errYieldStopped ends a membership source whose changes are no longer wanted.
var errYieldStopped = errors.New("the changes are no longer wanted")

// heldChangesOf yields a plan's person, group and membership changes (in that order) as the
// page lists them, its membership changes memberships' rather than its own list when
// memberships is not nil; an error of memberships ends them and is kept in *failed. A
// membership names its group and member as the plan has them (a person renamed tonight shows
// the new name), else as stored.
func heldChangesOf(p *change.Plan, st *change.State, memberships membershipSource, failed *error) func(yield func(*store.HeldChange) bool) {
	return func(yield func(*store.HeldChange) bool) {
		persons := make(map[string]string, len(p.Persons))
		groups := make(map[string]string, len(p.Groups))
		for i := range p.Persons {
			c := &p.Persons[i]
			r := store.HeldChange{Type: record.Persons, Op: c.Op, Key: c.Person.Key, Name: c.Person.Name}
			if r.Name == "" {
				r.Name = st.PersonName(r.Key)
			}
			if c.Op == change.Update {
				r.Fields = c.Fields(st)
			}
			persons[r.Key] = r.Name
			if !yield(&r) {
				return
			}
		}
		for i := range p.Groups {
			c := &p.Groups[i]
			r := store.HeldChange{Type: record.Groups, Op: c.Op, Key: c.Group.Key, Name: c.Group.Name, Course: c.Course}
			if r.Name == "" {
				r.Name = st.GroupName(r.Key)
			}
			if c.Op == change.Update {
				r.Fields = c.Fields(st)
			}
			groups[r.Key] = r.Name
			if !yield(&r) {
				return
			}
		}
		name := func(inPlan map[string]string, stored func(string) string, key string) string {
			if n := inPlan[key]; n != "" {
				return n
			}
			return stored(key)
		}
		membership := func(c *change.Membership) bool {
			m := &c.Membership
			r := store.HeldChange{Type: record.Memberships, Op: c.Op, Key: m.Group, Name: name(groups, st.GroupName, m.Group),
				Member: m.Member, Role: m.Role}
			if m.MemberType != record.MemberGroup {
				r.MemberName = name(persons, st.PersonName, m.Member)
			}
			if r.MemberName == "" {
				r.MemberName = name(groups, st.GroupName, m.Member)
			}
			return yield(&r)
		}
		if memberships == nil {
			for i := range p.Memberships {
				if !membership(&p.Memberships[i]) {
					return
				}
			}
			return
		}
		err := memberships(func(c *change.Membership) error {
			if !membership(c) {
				return errYieldStopped
			}
			return nil
		})
		if err != nil && !errors.Is(err, errYieldStopped) {
			*failed = err
		}
	}
}

// IndexHeld keeps a held run's changes as rows for its page when it has none: a hold made
// before holds kept them. It reads the plan (checked against the run's SHA-256) and the
// tenant's state now, so it costs what a hold's first view used to; it is done once.
func (im *Importer) IndexHeld(ctx context.Context, id int64) error {
	run, err := im.heldRun(ctx, "index", id)
	if err != nil {
		return err
	}
	plan, err := im.storedPlan(ctx, run)
	if err != nil {
		return fmt.Errorf("index held run %d: %w", id, err)
	}
	st, err := im.store.LoadState(ctx, run.Tenant)
	if err != nil {
		return fmt.Errorf("index held run %d: load state: %w", id, err)
	}
	err = im.store.IndexHeld(ctx, id, heldIndexer(st, archive.Removals(plan, st))(plan, nil))
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("index held run %d: %w: it was decided meanwhile", id, ErrNotHeld)
	}
	return err
}
