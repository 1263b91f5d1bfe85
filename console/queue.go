package console

import (
	"net/http"

	"github.com/imsfeed/imsfeed/queue"
)

// queuePage shows what `imsfeed queue` shows, from the same queue.Inspect, cut to the tenants
// the operator sees.
func (c *Console) queuePage(w http.ResponseWriter, r *http.Request) {
	op := whoOf(r).op
	var rep *queue.Report
	var msg string
	if c.cfg.Store == "" {
		msg = "No store URL in the config: there is no queue to show."
	} else if got, err := queue.Inspect(r.Context(), c.cfg, c.now()); err != nil {
		c.log.Error("console: queue", "err", err)
		msg = "The queue could not be read; the log says why."
	} else {
		rep = &queue.Report{}
		for _, n := range got.Next {
			if c.shows(op, n.Tenant) {
				rep.Next = append(rep.Next, n)
			}
		}
		keep := func(jobs []queue.Job) []queue.Job {
			var out []queue.Job
			for _, j := range jobs {
				if c.shows(op, j.Tenant) {
					out = append(out, j)
				}
			}
			return out
		}
		rep.Running, rep.Retrying, rep.Failed = keep(got.Running), keep(got.Retrying), keep(got.Failed)
	}
	c.render(w, r, http.StatusOK, "queue", "Queue", rep, msg)
}

// shows says whether a tenant is one of the config's and the operator may see it: jobs of
// tenants no longer configured stay out of the page, as they stay out of the tenants page.
func (c *Console) shows(op *operator, tenant string) bool {
	if _, err := c.cfg.Tenant(tenant); err != nil {
		return false
	}
	return op.Sees(tenant)
}
