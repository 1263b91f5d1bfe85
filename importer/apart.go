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

// personKeys is change.PersonKeys of the whole plan.
func (p *planned) personKeys() (map[string]bool, error) {
	keys := change.PersonKeys(p.plan)
	err := p.removed.Each(func(c *change.Membership) error {
		if c.Membership.MemberType != record.MemberGroup {
			keys[c.Membership.Member] = true
		}
		return nil
	})
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
