package importer

import (
	"errors"
	"iter"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/diff"
	"github.com/imsfeed/imsfeed/mailer"
	"github.com/imsfeed/imsfeed/record"
)

// planned is an import's plan with its membership removals kept apart (diff.FinishApart)
// until the safety filter has judged it. A broken night's removals are millions: as the
// plan's list they were 300 MB for the 1 GB feed's tenant, held while the plan was judged,
// held and mailed. Apart they are a few bytes each, and what a hold needs of them (its parts,
// its page's rows, the breakdown of removals, the persons' names, the status mail's first
// changes) reads them one at a time; only an apply lists them (whole).
type planned struct {
	// plan's Counts count every change; its Memberships list the file's changes, then, when
	// removed is nil, the removals too.
	plan    *change.Plan
	removed *diff.Removed // the removals after plan.Memberships, when kept apart
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
	if keepRemovalsApart {
		for i := range p.plan.Persons {
			if c := &p.plan.Persons[i]; c.Op == change.Delete && c.Person.Name != "" {
				delete(keys, c.Person.Key)
			}
		}
	}
	return keys, err
}

// report is the plan as far as the status mail lists it (its CSV: mailer.MaxCSVRows
// changes) and change.NamesFor reads it: every listed change, and as many removals as make
// mailer.MaxCSVRows memberships; the others are counted in Early, as the mailer counts a plan
// whose inserts were written early. The whole plan when it lists every change.
func (p *planned) report() (*change.Plan, error) {
	if p.removed == nil {
		return p.plan, nil
	}
	r := *p.plan
	room := max(0, mailer.MaxCSVRows-len(r.Memberships))
	r.Memberships = make([]change.Membership, len(p.plan.Memberships), len(p.plan.Memberships)+min(room, p.removed.Len()))
	copy(r.Memberships, p.plan.Memberships)
	err := p.removed.Each(func(c *change.Membership) error {
		if len(r.Memberships) == cap(r.Memberships) {
			return errYieldStopped
		}
		r.Memberships = append(r.Memberships, *c)
		return nil
	})
	if err != nil && !errors.Is(err, errYieldStopped) {
		return nil, err
	}
	r.Early[record.Memberships] += len(p.plan.Memberships) + p.removed.Len() - len(r.Memberships)
	return &r, nil
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
	return &head, piecesOf(p.plan, p.removed.Each, applyPiece)
}

// piecesOf gives plan's changes as store.ApplyParams.Pieces does, at most size of one list a
// piece, in the plan's order: its memberships those it lists, then those more gives (when not
// nil), each copied (a source may give the same value each time).
func piecesOf(plan *change.Plan, more membershipSource, size int) func(func(*change.Plan) error) error {
	return func(each func(*change.Plan) error) error {
		piece := func() *change.Plan {
			return &change.Plan{Tenant: plan.Tenant, Mode: plan.Mode, BaseVersion: plan.BaseVersion}
		}
		for i := 0; i < len(plan.Persons); i += size {
			x := piece()
			x.Persons = plan.Persons[i:min(i+size, len(plan.Persons))]
			if err := each(x); err != nil {
				return err
			}
		}
		for i := 0; i < len(plan.Groups); i += size {
			x := piece()
			x.Groups = plan.Groups[i:min(i+size, len(plan.Groups))]
			if err := each(x); err != nil {
				return err
			}
		}
		var buf []change.Membership // a new one each piece: the store may keep a piece
		flush := func() error {
			if len(buf) == 0 {
				return nil
			}
			x := piece()
			x.Memberships, buf = buf, nil
			return each(x)
		}
		add := func(c *change.Membership) error {
			if buf == nil {
				buf = make([]change.Membership, 0, size)
			}
			buf = append(buf, *c)
			if len(buf) == size {
				return flush()
			}
			return nil
		}
		for i := range plan.Memberships {
			if err := add(&plan.Memberships[i]); err != nil {
				return err
			}
		}
		if more != nil {
			if err := more(add); err != nil {
				return err
			}
		}
		if err := flush(); err != nil {
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
