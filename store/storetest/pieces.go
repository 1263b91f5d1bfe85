package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"testing"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/store"
	"github.com/imsfeed/imsfeed/store/internal/sqlstore"
)

// inPieces gives p's changes as ApplyParams.Pieces does, at most size of one list a piece, and
// returns p without them.
func inPieces(p *change.Plan, size int) (*change.Plan, func(func(*change.Plan) error) error) {
	head := *p
	head.Persons, head.Groups, head.Memberships, head.Relations = nil, nil, nil, nil
	return &head, func(each func(*change.Plan) error) error {
		piece := func() *change.Plan { return &change.Plan{Tenant: p.Tenant, Mode: p.Mode, BaseVersion: p.BaseVersion} }
		for i := 0; i < len(p.Persons); i += size {
			x := piece()
			x.Persons = p.Persons[i:min(i+size, len(p.Persons))]
			if err := each(x); err != nil {
				return err
			}
		}
		for i := 0; i < len(p.Groups); i += size {
			x := piece()
			x.Groups = p.Groups[i:min(i+size, len(p.Groups))]
			if err := each(x); err != nil {
				return err
			}
		}
		for i := 0; i < len(p.Memberships); i += size {
			x := piece()
			x.Memberships = p.Memberships[i:min(i+size, len(p.Memberships))]
			if err := each(x); err != nil {
				return err
			}
		}
		for i := 0; i < len(p.Relations); i += size {
			x := piece()
			x.Relations = p.Relations[i:min(i+size, len(p.Relations))]
			if err := each(x); err != nil {
				return err
			}
		}
		return nil
	}
}

// every names the tenant and the runs in a dump's lines: two tenants given the same changes
// by different runs dump the same once they are taken out.
var every = regexp.MustCompile(`(tenant|trashed_run|archived_run)=[^ |]+`)

func sameBut(d map[string][]string) map[string][]string {
	out := map[string][]string{}
	for t, lines := range d {
		for _, l := range lines {
			out[t] = append(out[t], every.ReplaceAllString(l, "$1=…"))
		}
	}
	return out
}

// testPlanInPieces: a plan given in pieces (an approval of a large hold) leaves the rows and the
// state index exactly as the same plan given whole, its before-images undo it, and a piece
// that fails in any of the passes changes nothing. The plan has every kind of change, a
// person trashed with relations the plan does not list, and a membership it removes and
// inserts again (a key named twice); the pieces are one change each. Before it, a rename of
// the person it trashes and of one it updates leaves their index entries pending (a bucket of
// their own, newer than their hash buckets' entries), which the plan's index edits must fold in.
func testPlanInPieces(t *testing.T, s store.Store) {
	ctx := context.Background()
	whole, pieces := tenantName("whole"), tenantName("pieces")
	relation := func(p, r, typ string) record.Relation {
		x := record.Relation{RelationKey: record.RelationKey{Person: p, Related: r, Type: typ}}
		x.ComputeHash()
		return x
	}
	night := func(tenant string, v int64) *change.Plan {
		readded := member("math1", "p3", "02")
		readded.Attrs = record.Attrs{{Name: "note", Value: "again"}}
		readded.ComputeHash()
		return &change.Plan{Tenant: tenant, Mode: "snapshot", BaseVersion: v,
			Persons: []change.Person{
				{Op: change.Update, Person: person("p1", "Ada King")},
				{Op: change.Delete, Person: record.Person{Key: "p2", Name: "Alan Turing"}},
				{Op: change.Insert, Person: person("p4", "Edsger Dijkstra")},
			},
			Groups: []change.Group{
				{Op: change.Insert, Group: group("art", "Art", "school")},
				{Op: change.Archive, Group: record.Group{Key: "math1", Name: "Math 1"}, Course: true},
			},
			Memberships: []change.Membership{
				{Op: change.Delete, Membership: record.Membership{MembershipKey: mkey("math1", "p2", "01")}, Cascade: true},
				{Op: change.Manualize, Membership: record.Membership{MembershipKey: mkey("math1", "p1", "01")}},
				{Op: change.Delete, Membership: record.Membership{MembershipKey: mkey("math1", "p3", "02")}},
				{Op: change.Insert, Membership: readded},
				{Op: change.Insert, Membership: member("art", "p4", "01")},
				{Op: change.Delete, Membership: record.Membership{MembershipKey: mkey("school", "math1", "04")}, Cascade: true},
			},
			Relations: []change.Relation{
				{Op: change.Insert, Relation: relation("p4", "p3", "mentor")},
				{Op: change.Insert, Relation: relation("p3", "p2", "coach")}, // gone again with p2
				{Op: change.Delete, Relation: record.Relation{RelationKey: record.RelationKey{Person: "p3", Related: "p1", Type: "mentor"}}},
			},
		}
	}
	initialize := func(tenant string) map[string][]string {
		p := initial(tenant)
		p.Relations = []change.Relation{{Op: change.Insert, Relation: relation("p1", "p2", "carer")},
			{Op: change.Insert, Relation: relation("p2", "p3", "carer")}, {Op: change.Insert, Relation: relation("p3", "p1", "mentor")}}
		apply(t, s, p)
		renames := &change.Plan{Tenant: tenant, Mode: "snapshot", BaseVersion: 1, Persons: []change.Person{
			{Op: change.Update, Person: person("p2", "Alan M. Turing")}, {Op: change.Update, Person: person("p1", "Ada Lovelace")}}}
		renames.Counts = change.Tally(renames, change.PerType{record.Persons: 3})
		apply(t, s, renames)
		return Dump(t, s, tenant)
	}
	const v = 2 // the night's base version
	initialize(whole)
	apply(t, s, night(whole, v))
	want := sameBut(Dump(t, s, whole))

	// The later passes kept from the read that writes the first (as a held night's trashings
	// are), read again (as when they are many), and the state index edits moved out of memory
	// as they are made (as a large approval's are).
	for _, how := range []string{"kept", "reread", "spilled"} {
		pieces := pieces
		switch how {
		case "reread":
			pieces = tenantName("reread")
			defer sqlstore.SetKeptChanges(0)()
		case "spilled":
			pieces = tenantName("spilled")
			defer sqlstore.SetEditsHeld(30)()
		}
		base := initialize(pieces)
		// A piece that fails, in any call the apply makes, changes nothing; the apply whose
		// calls all give their pieces is the one checked after.
		for failAt := 0; ; failAt++ {
			head, give := inPieces(night(pieces, v), 1)
			calls, failed := 0, false
			run := newRun(t, s, pieces, runs.Running)
			run.Status = runs.Completed
			var done, total int
			err := s.Apply(ctx, store.ApplyParams{Plan: head, Run: run, Now: now, Progress: func(d, n int) { done, total = d, n },
				Pieces: func(each func(*change.Plan) error) error {
					calls++
					if calls == failAt+1 {
						n := 0
						return give(func(p *change.Plan) error {
							if n++; n == 4 {
								failed = true
								return errors.New("the stored plan changed")
							}
							return each(p)
						})
					}
					return give(each)
				}})
			if failed {
				if err == nil {
					t.Fatalf("a plan whose pieces failed in call %d was applied", failAt+1)
				}
				if got := Dump(t, s, pieces); !reflect.DeepEqual(got, base) {
					t.Fatalf("a plan whose pieces failed in call %d changed the tenant", failAt+1)
				}
				if st := load(t, s, pieces); st.Version != v {
					t.Fatalf("a plan whose pieces failed moved the version to %d", st.Version)
				}
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if failAt < 2 {
				t.Fatalf("the plan was read %d times: a check and a write at least", failAt)
			}
			if got := sameBut(Dump(t, s, pieces)); !reflect.DeepEqual(got, want) {
				t.Errorf("the plan in pieces (%s) left other rows than the plan whole:\n got %v\nwant %v", how, got, want)
			}
			checkIndex(t, s, pieces)
			if run.VersionBefore != v || run.VersionAfter != v+1 {
				t.Errorf("run versions %d → %d, want %d → %d", run.VersionBefore, run.VersionAfter, v, v+1)
			}
			if n := night(pieces, v).Changes(); total != n || done != n {
				t.Errorf("progress %d of %d, want %d of %d", done, total, n, n)
			}
			mustUndo(t, s, pieces, run.ID, false)
			SameState(t, "after undoing the plan applied in pieces", Dump(t, s, pieces), base)
			checkIndex(t, s, pieces)
			break
		}
	}
}

// PiecesOverADamagedIndex damages a bucket of the state index (exec runs SQL on the store's
// database) that a plan given in pieces edits: the apply writes the same rows as the plan given
// whole, and its index, which cannot be edited, is rebuilt from the rows; undone, it gives the
// state back. The plan touches every person of a tenant of 1,500 (their buckets take several
// ranges of the edits), trashing a third with their memberships and renaming the rest.
func PiecesOverADamagedIndex(t *testing.T, s store.Store, exec func(query string) error) {
	ctx := context.Background()
	whole, pieces := tenantName("dmgwhole"), tenantName("dmgpieces")
	night := func(tenant string) *change.Plan {
		p := &change.Plan{Tenant: tenant, Mode: "snapshot", BaseVersion: 1}
		for i := range 1500 {
			key := fmt.Sprintf("p%d", i)
			if i%3 == 0 {
				p.Persons = append(p.Persons, change.Person{Op: change.Delete, Person: record.Person{Key: key, Name: "Person " + key}})
				p.Memberships = append(p.Memberships, change.Membership{Op: change.Delete, Cascade: true,
					Membership: record.Membership{MembershipKey: mkey(fmt.Sprintf("g%d", i%40), key, fmt.Sprintf("0%d", 1+i%3))}})
				continue
			}
			p.Persons = append(p.Persons, change.Person{Op: change.Update, Person: person(key, "Renamed "+key)})
		}
		return p
	}
	for _, tenant := range []string{whole, pieces} {
		bulk(t, s, tenant)
	}
	base := Dump(t, s, pieces)
	apply(t, s, night(whole))
	want := sameBut(Dump(t, s, whole))

	tenantQ := "'" + pieces + "'"
	if err := exec(`UPDATE state_index SET data = substr(data, 1, length(data) - 5) WHERE tenant = ` + tenantQ +
		` AND bucket = (SELECT max(bucket) FROM state_index WHERE tenant = ` + tenantQ + ` AND bucket < 4096)`); err != nil {
		t.Fatal(err)
	}
	head, give := inPieces(night(pieces), 7)
	run := newRun(t, s, pieces, runs.Running)
	run.Status = runs.Completed
	if err := s.Apply(ctx, store.ApplyParams{Plan: head, Run: run, Now: now, Pieces: give}); err != nil {
		t.Fatal(err)
	}
	if got := sameBut(Dump(t, s, pieces)); !reflect.DeepEqual(got, want) {
		t.Errorf("the plan in pieces over a damaged index left other rows than the plan whole")
	}
	checkIndex(t, s, pieces)
	mustUndo(t, s, pieces, run.ID, false)
	SameState(t, "after undoing the plan applied in pieces over a damaged index", Dump(t, s, pieces), base)
	checkIndex(t, s, pieces)
}

// SetImagePart sets about how many bytes of before-images the SQL stores keep in one stored
// part, until the returned function puts it back, so that a test's small change set has its
// images in many parts. For tests only.
func SetImagePart(n int) func() { return sqlstore.SetImagePart(n) }
