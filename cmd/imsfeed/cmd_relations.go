package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/imsfeed/imsfeed/store"
)

// cmdRelations lists a tenant's relations between persons (carers, mentors), all or those
// naming one person either way.
func (a *app) cmdRelations(ctx context.Context, args []string) error {
	fs := a.flags("relations", "relations --tenant T [--person KEY] [--json]", "imsfeed relations --tenant northside --person P0001")
	tenant := fs.String("tenant", "", "tenant id")
	person := fs.String("person", "", "only the relations naming this person, either way (a pupil's carers, a carer's pupils)")
	asJSON := fs.Bool("json", false, "print one JSON document")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *tenant == "" {
		return usagef("relations: --tenant T is required")
	}
	if err := a.openFor(ctx, *tenant); err != nil {
		return err
	}
	rs, err := a.store.ListRelations(ctx, *tenant, store.ListRelationsParams{Person: *person})
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(a.stdout, rs)
	}
	if len(rs) == 0 {
		if *person != "" {
			fmt.Fprintf(a.stdout, "no relations name person %s\n", *person)
		} else {
			fmt.Fprintln(a.stdout, "no relations")
		}
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PERSON\tNAME\tTYPE\tRELATED\tNAME")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Person, r.PersonName, r.Type, r.Related, r.RelatedName)
	}
	return tw.Flush()
}
