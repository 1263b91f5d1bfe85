package importer

import (
	"context"
	"strings"
	"time"

	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/store"
)

// refreshStats asks a store that plans from statistics (store.PlannerStats: PostgreSQL) to
// analyse the tables a committed run made a large part of, a tenant's initial load above all,
// so that its next night is not planned as if those rows were not there. It runs after the
// commit, outside the run's transaction: whatever happens here, the run stays applied, and a
// failure is a warning (autovacuum analyses the tables later).
func (im *Importer) refreshStats(ctx context.Context, run *runs.Run) {
	ps, ok := im.store.(store.PlannerStats)
	if !ok {
		return
	}
	c := run.Counts
	added := map[string]int{"persons": c.Persons.Inserted, "groups": c.Groups.Inserted,
		"memberships": c.Memberships.Inserted, "relations": c.Relations.Inserted}
	start := time.Now()
	analysed, err := ps.RefreshStats(ctx, run.Tenant, added)
	log := im.log.With("tenant", run.Tenant, "run", run.ID)
	if len(analysed) > 0 {
		log.Info("planner statistics refreshed", "tables", strings.Join(analysed, ","), "seconds", time.Since(start).Seconds())
	}
	if err != nil {
		log.Warn("planner statistics not refreshed after the apply; the run is applied, autovacuum analyses the tables later", "err", err)
	}
}
