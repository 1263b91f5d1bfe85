package importer

import (
	"context"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/mailer"
)

// addOld puts the stored record beside each update (as many as the status mail's CSV lists),
// so the mail and `show --plan` can say what changes, old → new. It is for reports only: when
// the store cannot say, the run goes on without it.
func (im *Importer) addOld(ctx context.Context, tenant string, p *change.Plan) {
	var persons, groups []string
	for _, c := range p.Persons {
		if c.Op == change.Update && len(persons) < mailer.MaxCSVRows {
			persons = append(persons, c.Person.Key)
		}
	}
	for _, c := range p.Groups {
		if c.Op == change.Update && len(groups) < mailer.MaxCSVRows {
			groups = append(groups, c.Group.Key)
		}
	}
	if len(persons)+len(groups) == 0 {
		return
	}
	ps, gs, err := im.store.StoredRecords(ctx, tenant, persons, groups)
	if err != nil {
		im.log.Warn("read the stored records of updates (the mail shows no old values)", "tenant", tenant, "err", err)
		return
	}
	for i := range p.Persons {
		if c := &p.Persons[i]; c.Op == change.Update {
			if old, ok := ps[c.Person.Key]; ok {
				c.Old = &old
			}
		}
	}
	for i := range p.Groups {
		if c := &p.Groups[i]; c.Op == change.Update {
			if old, ok := gs[c.Group.Key]; ok {
				c.Old = &old
			}
		}
	}
}
