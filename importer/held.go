package importer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

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
	return func(p *change.Plan, persons personsApart, memberships membershipSource) *store.HeldIndex {
		var failed error
		return &store.HeldIndex{Changes: heldChangesOf(p, st, persons, memberships, &failed), Err: func() error { return failed }, Removals: removals}
	}
}

// heldIndexFunc makes a held plan's page rows, of its membership changes memberships' when
// that is not nil, and of its person changes its list then persons' (as heldChangesOf).
type heldIndexFunc func(p *change.Plan, persons personsApart, memberships membershipSource) *store.HeldIndex

// errYieldStopped ends a membership source whose changes are no longer wanted.
var errYieldStopped = errors.New("the changes are no longer wanted")

// heldChangesOf yields a plan's person, group and membership changes (in that order) as the
// page lists them, its membership changes memberships' rather than its own list when
// memberships is not nil, and its person changes its list then persons' when persons is not
// nil (each going to the trash can, with its name); an error of either ends them and is kept
// in *failed. A membership names its group and member as the plan has them (a person renamed
// tonight shows the new name), else as stored.
func heldChangesOf(p *change.Plan, st *change.State, persons personsApart, memberships membershipSource, failed *error) func(yield func(*store.HeldChange) bool) {
	return func(yield func(*store.HeldChange) bool) {
		person := func(c *change.Person, name string) bool {
			r := store.HeldChange{Type: record.Persons, Op: c.Op, Key: c.Person.Key, Name: name}
			if c.Op == change.Update {
				r.Fields = c.Fields(st)
			}
			return yield(&r)
		}
		for i := range p.Persons {
			if !person(&p.Persons[i], personName(p, st, i)) {
				return
			}
		}
		if persons != nil {
			err := persons.EachPerson(func(c *change.Person) error {
				name := c.Person.Name
				if name == "" {
					name = st.PersonName(c.Person.Key)
				}
				if !person(c, name) {
					return errYieldStopped
				}
				return nil
			})
			if err != nil {
				if !errors.Is(err, errYieldStopped) {
					*failed = err
				}
				return
			}
		}
		for i := range p.Groups {
			c := &p.Groups[i]
			r := store.HeldChange{Type: record.Groups, Op: c.Op, Key: c.Group.Key, Name: groupName(p, st, i), Course: c.Course}
			if c.Op == change.Update {
				r.Fields = c.Fields(st)
			}
			if !yield(&r) {
				return
			}
		}
		// The names the plan gives, by key: its changes' indexes sorted by key (a broken
		// night's quarter of a million persons: 1 MB, where a map of their names was 20 MB).
		listed := newByKey(len(p.Persons), func(i int32) string { return p.Persons[i].Person.Key })
		groups := newByKey(len(p.Groups), func(i int32) string { return p.Groups[i].Group.Key })
		// A membership names its group and member as the plan has them, else as stored.
		groupNamed := func(key string) string {
			if i, ok := groups.last(key); ok {
				if n := groupName(p, st, int(i)); n != "" {
					return n
				}
			}
			return st.GroupName(key)
		}
		personNamed := func(key string) string {
			if i, ok := listed.last(key); ok {
				if n := personName(p, st, int(i)); n != "" {
					return n
				}
			}
			if persons != nil {
				if n, ok := persons.Trashed(key); ok && n != "" {
					return n
				}
			}
			return st.PersonName(key)
		}
		membership := func(c *change.Membership) bool {
			m := &c.Membership
			r := store.HeldChange{Type: record.Memberships, Op: c.Op, Key: m.Group, Name: groupNamed(m.Group), Member: m.Member, Role: m.Role}
			if m.MemberType != record.MemberGroup {
				r.MemberName = personNamed(m.Member)
			}
			if r.MemberName == "" {
				r.MemberName = groupNamed(m.Member)
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

// personName is the name the page gives the plan's person change i: the plan's, else the
// stored one.
func personName(p *change.Plan, st *change.State, i int) string {
	if n := p.Persons[i].Person.Name; n != "" {
		return n
	}
	return st.PersonName(p.Persons[i].Person.Key)
}

// groupName is personName of the plan's group change i.
func groupName(p *change.Plan, st *change.State, i int) string {
	if n := p.Groups[i].Group.Name; n != "" {
		return n
	}
	return st.GroupName(p.Groups[i].Group.Key)
}

// byKey finds a plan's changes of a type by key: their indexes, sorted by key (stably: of a
// key's changes, the last is the plan's last).
type byKey struct {
	order []int32
	key   func(int32) string
}

func newByKey(n int, key func(int32) string) byKey {
	order := make([]int32, n)
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortStableFunc(order, func(a, b int32) int { return strings.Compare(key(a), key(b)) })
	return byKey{order, key}
}

// last is the index of the plan's last change of key.
func (b byKey) last(key string) (int32, bool) {
	i := sort.Search(len(b.order), func(i int) bool { return b.key(b.order[i]) > key })
	if i == 0 || b.key(b.order[i-1]) != key {
		return 0, false
	}
	return b.order[i-1], true
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
	err = im.store.IndexHeld(ctx, id, heldIndexer(st, archive.Removals(plan, st))(plan, nil, nil))
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("index held run %d: %w: it was decided meanwhile", id, ErrNotHeld)
	}
	return err
}
