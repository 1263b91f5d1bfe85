package console

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/mailer"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/store"
)

// MetricsParams are Metrics' arguments; MailStats (mailer.Mailer.Stats), Counters and Log are
// optional.
type MetricsParams struct {
	Config    *config.Config
	Store     store.Store
	MailStats func() mailer.Stats
	// Counters are what this process counts as it goes: applied changes, live requests.
	Counters *Counters
	Log      *slog.Logger
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Counters count what happens in this process (Prometheus sums them over the serve processes;
// a restart starts them at zero, which rate() understands): the changes of each applied run and
// each live request with its latency. A cron `imsfeed run` beside serve is not counted here;
// its runs are in imsfeed_runs.
type Counters struct {
	changes  *prometheus.CounterVec
	live     *prometheus.CounterVec
	liveTime *prometheus.HistogramVec
}

// NewCounters returns zeroed counters for Metrics.
func NewCounters() *Counters {
	return &Counters{
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "imsfeed_changes_applied_total",
			Help: "Changes applied by this process's imports and approvals, by tenant, record type and operation."},
			[]string{"tenant", "type", "operation"}),
		live: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "imsfeed_live_requests_total",
			Help: "Live-channel requests answered by this process, by operation and outcome (IMS codeMajor, codeMinor)."},
			[]string{"operation", "outcome", "code"}),
		liveTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "imsfeed_live_request_duration_seconds",
			Help: "How long this process took to answer live-channel requests, by operation.", Buckets: prometheus.DefBuckets},
			[]string{"operation"}),
	}
}

// Applied counts an applied run's changes (importer.Importer.Applied).
func (c *Counters) Applied(run *runs.Run) {
	for _, typ := range record.AllTypes {
		n := run.Counts.Of(typ)
		for op, v := range map[string]int{"inserted": n.Inserted, "updated": n.Updated, "deleted": n.Deleted,
			"restored": n.Restored, "archived": n.Archived} {
			c.changes.WithLabelValues(run.Tenant, typ.String(), op).Add(float64(v))
		}
	}
}

// Live counts an answered live request (live.Service.OnRequest).
func (c *Counters) Live(e *store.LiveEntry) {
	c.live.WithLabelValues(e.Operation, e.CodeMajor, e.CodeMinor).Inc()
	c.liveTime.WithLabelValues(e.Operation).Observe(e.Duration.Seconds())
}

// Metrics returns /metrics in the Prometheus text format. Every scrape reads the store, so the
// numbers include runs of other processes (a cron `imsfeed run` next to serve).
func Metrics(p MetricsParams) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&collector{p: p})
	if p.Counters != nil {
		reg.MustRegister(p.Counters.changes, p.Counters.live, p.Counters.liveTime)
	}
	opts := promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}
	if p.Log != nil {
		opts.ErrorLog = slog.NewLogLogger(p.Log.Handler(), slog.LevelWarn)
	}
	return promhttp.HandlerFor(reg, opts)
}

var (
	descRuns = prometheus.NewDesc("imsfeed_runs", "Recorded runs by tenant and status (held runs turn completed, rejected or superseded).",
		[]string{"tenant", "status"}, nil)
	descHeld         = prometheus.NewDesc("imsfeed_held_runs_waiting", "Held runs waiting for an operator's decision.", []string{"tenant"}, nil)
	descLastSuccess  = prometheus.NewDesc("imsfeed_last_success_timestamp_seconds", "When the tenant's last completed run finished (Unix time); absent before the first.", []string{"tenant"}, nil)
	descSinceSuccess = prometheus.NewDesc("imsfeed_seconds_since_last_success", "Seconds since the tenant's last completed run finished; absent before the first.", []string{"tenant"}, nil)
	descStoreUp      = prometheus.NewDesc("imsfeed_store_up", "1 when the store answered this scrape, 0 when not.", nil, nil)

	descMailSent        = prometheus.NewDesc("imsfeed_mail_sent_total", "Mails the SMTP server accepted since serve started.", nil, nil)
	descMailQueued      = prometheus.NewDesc("imsfeed_mail_queued_total", "Attempts that left a mail in the outbox queue since serve started.", nil, nil)
	descMailRefused     = prometheus.NewDesc("imsfeed_mail_refused_total", "5xx refusals that left a mail in the queue for another try since serve started.", nil, nil)
	descMailDead        = prometheus.NewDesc("imsfeed_mail_dead_lettered_total", "Mails moved to outbox/dead since serve started.", nil, nil)
	descMailUnconfirmed = prometheus.NewDesc("imsfeed_mail_unconfirmed_total", "Mails moved to outbox/unconfirmed since serve started.", nil, nil)
	descMailQueue       = prometheus.NewDesc("imsfeed_mail_queue_length", "Mails waiting in outbox/queue now.", nil, nil)
	descMailDeadNow     = prometheus.NewDesc("imsfeed_mail_dead_letters", "Mails in outbox/dead now.", nil, nil)
	descMailUnconfNow   = prometheus.NewDesc("imsfeed_mail_unconfirmed", "Mails in outbox/unconfirmed now.", nil, nil)
)

type collector struct{ p MetricsParams }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRuns, descHeld, descLastSuccess, descSinceSuccess, descStoreUp, descMailSent, descMailQueued,
		descMailRefused, descMailDead, descMailUnconfirmed, descMailQueue, descMailDeadNow, descMailUnconfNow} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	up := 1.0
	if err := c.collectStore(ctx, ch); err != nil {
		up = 0
		if c.p.Log != nil {
			c.p.Log.Warn("metrics: the store did not answer", "err", err)
		}
	}
	ch <- prometheus.MustNewConstMetric(descStoreUp, prometheus.GaugeValue, up)
	if c.p.MailStats != nil {
		s := c.p.MailStats()
		counter := func(d *prometheus.Desc, v uint64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
		}
		gauge := func(d *prometheus.Desc, v int) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
		}
		counter(descMailSent, s.Sent)
		counter(descMailQueued, s.Queued)
		counter(descMailRefused, s.Refused)
		counter(descMailDead, s.DeadLettered)
		counter(descMailUnconfirmed, s.Unconfirmed)
		gauge(descMailQueue, s.QueueLength)
		gauge(descMailDeadNow, s.DeadLetters)
		gauge(descMailUnconfNow, s.UnconfirmedMails)
	}
}

func (c *collector) collectStore(ctx context.Context, ch chan<- prometheus.Metric) error {
	rc, ok := c.p.Store.(store.RunCounter)
	if !ok {
		return errors.New("the store cannot count runs")
	}
	counts, err := rc.CountRuns(ctx)
	if err != nil {
		return err
	}
	held := map[string]int{}
	for _, t := range c.p.Config.Tenants {
		held[t.ID] = 0 // a configured tenant without holds says 0, not nothing
	}
	for _, n := range counts {
		ch <- prometheus.MustNewConstMetric(descRuns, prometheus.GaugeValue, float64(n.N), n.Tenant, string(n.Status))
		if n.Status == runs.Held {
			held[n.Tenant] = n.N
		}
	}
	for t, n := range held {
		ch <- prometheus.MustNewConstMetric(descHeld, prometheus.GaugeValue, float64(n), t)
	}
	now := time.Now()
	if c.p.Now != nil {
		now = c.p.Now()
	}
	for _, t := range c.p.Config.Tenants {
		r, err := c.p.Store.LastRun(ctx, t.ID, runs.Completed)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if r.FinishedAt != nil {
			ch <- prometheus.MustNewConstMetric(descLastSuccess, prometheus.GaugeValue, float64(r.FinishedAt.UnixNano())/1e9, t.ID)
			ch <- prometheus.MustNewConstMetric(descSinceSuccess, prometheus.GaugeValue, max(0, now.Sub(*r.FinishedAt).Seconds()), t.ID)
		}
	}
	return nil
}

// Health answers /healthz for a load balancer: 200 when the store answers a query within 5
// seconds, else 503 (the reason goes to the log, not to the answer).
func Health(st store.Store, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if _, err := st.StateVersion(ctx, "-healthz-"); err != nil {
			if log != nil {
				log.Warn("healthz: the store did not answer", "err", err)
			}
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("store unreachable\n"))
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
}
