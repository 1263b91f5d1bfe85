package importer

import (
	"errors"
	"iter"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/diff"
	"github.com/imsfeed/imsfeed/mailer"
	"github.com/imsfeed/imsfeed/record"
)

// planned is an import's plan with its removals of memberships and of persons (to the trash
// can) kept apart (diff.FinishApart) until the safety filter has judged it. A broken night's
// removals are millions: as the plan's list they were 300 MB for the 1 GB feed's tenant, held
// while the plan was judged, held and mailed, and its persons trashed 36 MB more. Apart they
// are a few bytes each, and what needs them reads them one at a time: an apply in pieces, a
// hold's parts, its page's rows, the breakdown of removals, the persons' names, the status
// mail's first changes. An apply of the whole plan lists them whole, and a hold its persons.
type planned struct {
	// plan's Counts count every change; its Memberships and Persons list the file's changes,
	// then, when removed is nil, the removals too.
	plan    *change.Plan
	removed *diff.Removed // the removals after plan.Memberships and plan.Persons, when kept apart
	// scratch is the diff's scratch file: the removals apart may be there (diff.removals).
	scratch *scratchFile
}

// close removes the diff's scratch file; the removals apart are not read after it.
func (p *planned) close() {
	if p != nil && p.scratch != nil {
		p.scratch.remove()
	}
}

// whole is the plan with every change listed (what an apply, a dry run and ImportOptions.Plan
// take).
func (p *planned) whole() (*change.Plan, error) {
	if p.removed != nil {
		if err := p.removed.AppendTo(p.plan); err != nil {
			return nil, err
		}
		p.removed = nil
	}
	p.close()
	return p.plan, nil
}

// persons gives the persons going to the trash can apart (none when the plan lists them all).
func (p *planned) persons(yield func(*change.Person) error) error { return p.removed.EachPerson(yield) }

// personsApart are the persons going to the trash can apart, for a hold; nil when the plan
// lists them all.
func (p *planned) personsApart() personsApart {
	if p.removed.Persons() == 0 {
		return nil
	}
	return p.removed
}

// memberships gives the plan's membership changes, its list then the removals apart; nil when
// the plan lists them all.
func (p *planned) memberships() membershipSource {
	if p.removed == nil {
		return nil
	}
	return func(yield func(*change.Membership) error) error {
		for i := range p.plan.Memberships {
			if err := yield(&p.plan.Memberships[i]); err != nil {
				return err
			}
		}
		return p.removed.Each(yield)
	}
}

// each is memberships as a sequence; an error of the removals ends it and is kept in *failed.
func (p *planned) each(failed *error) iter.Seq[change.Membership] {
	return func(yield func(change.Membership) bool) {
		for _, c := range p.plan.Memberships {
			if !yield(c) {
				return
			}
		}
		err := p.removed.Each(func(c *change.Membership) error {
			if !yield(*c) {
				return errYieldStopped
			}
			return nil
		})
		if err != nil && !errors.Is(err, errYieldStopped) {
			*failed = err
		}
	}
}

// personKeys is change.PersonKeys of the whole plan, less the persons it puts in the trash can
// with their names: what reads a stored name (st.PersonName) reads the plan's name first, and
// a broken night's quarter of a million names read again were 19 MB, and 10 MB more in the
// mail's names (change.NamesFor).
func (p *planned) personKeys() (map[string]bool, error) {
	keys := change.PersonKeys(p.plan)
	err := p.removed.Each(func(c *change.Membership) error {
		if c.Membership.MemberType != record.MemberGroup {
			keys[c.Membership.Member] = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if keepRemovalsApart {
		for i := range p.plan.Persons {
			if c := &p.plan.Persons[i]; c.Op == change.Delete && c.Person.Name != "" {
				delete(keys, c.Person.Key)
			}
		}
	}
	// (The persons apart all go to the trash can: the keys of those without a name are read.)
	err = p.persons(func(c *change.Person) error {
		if c.Person.Name == "" {
			keys[c.Person.Key] = true
		} else {
			delete(keys, c.Person.Key)
		}
		return nil
	})
	return keys, err
}

// trashed gives the name of a person going to the trash can apart (ok: one of them), for
// change.NamesForApart.
func (p *planned) trashed(key string) (string, bool) { return p.removed.Trashed(key) }

// trashedApart reports whether a person goes to the trash can apart, for archive.RemovalsOf.
func (p *planned) trashedApart(key string) bool {
	_, ok := p.removed.Trashed(key)
	return ok
}

// report is the plan as far as the status mail lists it (its CSV: the first
// mailer.MaxCSVRows changes, persons, groups, memberships, relations): every listed change,
// and as many of the removals apart, persons' then memberships', as the CSV has room for; the
// others are counted in Early, as the mailer counts a plan whose inserts were written early.
// The whole plan when it lists every change. (The mail's names are read from the whole plan:
// change.NamesForApart.)
func (p *planned) report() (*change.Plan, error) {
	if p.removed == nil {
		return p.plan, nil
	}
	r := *p.plan
	var err error
	// The persons apart after the listed ones, as many as the CSV has room for; the CSV lists
	// persons first, so when they are more no other change is listed either.
	if n := p.removed.Persons(); n > 0 {
		if r.Persons, err = withFirst(p.plan.Persons, p.persons, n, mailer.MaxCSVRows); err != nil {
			return nil, err
		}
		r.Early[record.Persons] += len(p.plan.Persons) + n - len(r.Persons)
	}
	// Then the removals, as many as the CSV has room for after the persons, the groups and the
	// listed memberships (the CSV's order).
	r.Memberships, err = withFirst(p.plan.Memberships, p.removed.Each, p.removed.Len(), mailer.MaxCSVRows-len(r.Persons)-len(r.Groups))
	if err != nil {
		return nil, err
	}
	r.Early[record.Memberships] += len(p.plan.Memberships) + p.removed.Len() - len(r.Memberships)
	return &r, nil
}

// withFirst is list, then the first of the n changes more gives, as many as make at most limit
// in all, in a new list.
func withFirst[T any](list []T, more func(func(*T) error) error, n, limit int) ([]T, error) {
	out := make([]T, len(list), len(list)+min(max(0, limit-len(list)), n))
	copy(out, list)
	err := more(func(c *T) error {
		if len(out) == cap(out) {
			return errYieldStopped
		}
		out = append(out, *c)
		return nil
	})
	if err != nil && !errors.Is(err, errYieldStopped) {
		return nil, err
	}
	return out, nil
}

// applyApartMin is how many membership removals apart make a passing plan applied in pieces
// (store.ApplyParams.Pieces) rather than listed whole: a broken night's removals listed are
// 128 bytes each (90 MB for the 316.8 MB feed's tenant losing half its persons), and the
// whole plan's apply decoded every state index bucket it touches at once (170 MB more). In
// pieces the removals are read from their few bytes each a piece at a time and the index is
// edited a block of buckets at a time, as an approval's. A night of fewer removals is applied
// whole, as before (its persons' index entries may then go to a pending bucket).
var applyApartMin = 1 << 16

// applyPiece is how many changes of one list a piece given to the store holds.
var applyPiece = 16384

// inPieces reports whether a passing plan is applied in pieces (planned.pieces).
func (p *planned) inPieces() bool { return p.removed.Len() > 0 && p.removed.Len() >= applyApartMin }

// pieces gives the plan's changes as store.ApplyParams.Pieces does, at most applyPiece of one
// list a piece, in the plan's order (its memberships: the ones it lists, then the removals
// apart), and returns the plan's head without them. The plan is not changed.
func (p *planned) pieces() (*change.Plan, func(func(*change.Plan) error) error) {
	head := *p.plan
	head.Persons, head.Groups, head.Memberships, head.Relations = nil, nil, nil, nil
	return &head, piecesOf(p.plan, p.persons, p.removed.Each, applyPiece)
}

// piecesOf gives plan's changes as store.ApplyParams.Pieces does, at most size of one list a
// piece, in the plan's order: its persons those it lists, then those morePersons gives (when
// not nil), its memberships those it lists, then those more gives (when not nil).
func piecesOf(plan *change.Plan, morePersons func(func(*change.Person) error) error, more membershipSource, size int) func(func(*change.Plan) error) error {
	return func(each func(*change.Plan) error) error {
		piece := func() *change.Plan {
			return &change.Plan{Tenant: plan.Tenant, Mode: plan.Mode, BaseVersion: plan.BaseVersion}
		}
		err := listPieces(plan.Persons, morePersons, size, func(l []change.Person) error {
			x := piece()
			x.Persons = l
			return each(x)
		})
		if err != nil {
			return err
		}
		for i := 0; i < len(plan.Groups); i += size {
			x := piece()
			x.Groups = plan.Groups[i:min(i+size, len(plan.Groups))]
			if err := each(x); err != nil {
				return err
			}
		}
		err = listPieces(plan.Memberships, more, size, func(l []change.Membership) error {
			x := piece()
			x.Memberships = l
			return each(x)
		})
		if err != nil {
			return err
		}
		for i := 0; i < len(plan.Relations); i += size {
			x := piece()
			x.Relations = plan.Relations[i:min(i+size, len(plan.Relations))]
			if err := each(x); err != nil {
				return err
			}
		}
		return nil
	}
}

// listPieces gives list's changes, then those more gives (when not nil), to piece in lists of
// at most size, each copied into a new list (the store may keep a piece; a source may give the
// same value each time).
func listPieces[T any](list []T, more func(func(*T) error) error, size int, piece func([]T) error) error {
	var buf []T
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		l := buf
		buf = nil
		return piece(l)
	}
	add := func(c *T) error {
		if buf == nil {
			buf = make([]T, 0, size)
		}
		buf = append(buf, *c)
		if len(buf) == size {
			return flush()
		}
		return nil
	}
	for i := range list {
		if err := add(&list[i]); err != nil {
			return err
		}
	}
	if more != nil {
		if err := more(add); err != nil {
			return err
		}
	}
	return flush()
}
