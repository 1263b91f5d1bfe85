package console_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	dto "github.com/prometheus/client_model/go"

	"github.com/imsfeed/imsfeed/console"
	"github.com/imsfeed/imsfeed/importer"
	"github.com/imsfeed/imsfeed/live"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/store"
	"github.com/imsfeed/imsfeed/store/postgres"
	"github.com/imsfeed/imsfeed/store/sqlite"
	"github.com/imsfeed/imsfeed/store/storetest"
)

// scrape reads /metrics with Prometheus's own text parser.
func scrape(t *testing.T, p console.MetricsParams) map[string]*familyT {
	t.Helper()
	rec := httptest.NewRecorder()
	console.Metrics(p).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v\n%s", err, rec.Body.String())
	}
	return fams
}

type familyT = dto.MetricFamily

// value is the sample of the family with exactly these labels (nil if none).
func value(f map[string]*familyT, name string, labels map[string]string) *float64 {
	fam := f[name]
	if fam == nil {
		return nil
	}
next:
	for _, m := range fam.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		if len(got) != len(labels) {
			continue
		}
		for k, v := range labels {
			if got[k] != v {
				continue next
			}
		}
		var x float64
		switch {
		case m.Counter != nil:
			x = m.Counter.GetValue()
		case m.Gauge != nil:
			x = m.Gauge.GetValue()
		case m.Histogram != nil:
			x = float64(m.Histogram.GetSampleCount())
		}
		return &x
	}
	return nil
}

// Issue 12: /metrics counts applied changes by tenant, type and operation, live requests by
// operation and outcome with their latency, and says how long ago each tenant's last good
// import was.
func TestMetricsChangesLiveRequestsAndAgeOfLastSuccess(t *testing.T) {
	stores(t, func(t *testing.T, st store.Store) {
		w := newWorld(t, st)
		ctx := context.Background()
		counters := console.NewCounters()
		w.im.Applied = counters.Applied
		approved, err := w.im.Approve(ctx, importer.Decision{RunID: w.held.ID, By: "test", Reason: "test"})
		if err != nil {
			t.Fatal(err)
		}
		state, err := st.LoadState(ctx, w.tenant)
		if err != nil {
			t.Fatal(err)
		}
		var someone string
		for k, p := range state.Persons {
			if !p.Trashed {
				someone = k
				break
			}
		}
		// A loaded machine must not turn a read into targetisbusy: wait as long as it takes.
		svc := &live.Service{Store: st, OnRequest: counters.Live, LockWait: time.Minute}
		lt := &live.Tenant{ID: w.tenant}
		for _, key := range []string{someone, "nobody", someone} {
			res := svc.Do(ctx, lt, &live.Request{Dialect: "imses1", Operation: "readPerson", Type: record.Persons, Action: live.Read, Items: []live.Item{{Key: key}}})
			if ans := res.First(); (ans.Minor == live.FullSuccess) != (key == someone) {
				t.Fatalf("readPerson %q answered %s/%s: %s", key, ans.Major, ans.Minor, ans.Description)
			}
		}

		later := time.Now().Add(time.Hour)
		f := scrape(t, console.MetricsParams{Config: w.cfg, Store: st, Counters: counters, Now: func() time.Time { return later }})
		deleted := value(f, "imsfeed_changes_applied_total", map[string]string{"tenant": w.tenant, "type": "persons", "operation": "deleted"})
		if deleted == nil || *deleted != float64(approved.Counts.Persons.Deleted) || *deleted == 0 {
			t.Fatalf("persons deleted: %v, want %d", deleted, approved.Counts.Persons.Deleted)
		}
		// Relations (carers, mentors) are a type of their own, as in the mail and status.
		rel := value(f, "imsfeed_changes_applied_total", map[string]string{"tenant": w.tenant, "type": "relations", "operation": "inserted"})
		if rel == nil || *rel != float64(approved.Counts.Relations.Inserted) {
			t.Errorf("relations inserted: %v, want %d", rel, approved.Counts.Relations.Inserted)
		}
		for _, c := range []struct {
			outcome, code string
			n             float64
		}{{"success", "fullsuccess", 2}, {"failure", "unknownobject", 1}} {
			got := value(f, "imsfeed_live_requests_total", map[string]string{"operation": "readPerson", "outcome": c.outcome, "code": c.code})
			if got == nil || *got != c.n {
				t.Errorf("live readPerson %s/%s: %v, want %v", c.outcome, c.code, got, c.n)
			}
		}
		if n := value(f, "imsfeed_live_request_duration_seconds", map[string]string{"operation": "readPerson"}); n == nil || *n != 3 {
			t.Errorf("latency histogram of readPerson: %v observations, want 3", n)
		}
		age := value(f, "imsfeed_seconds_since_last_success", map[string]string{"tenant": w.tenant})
		if age == nil || *age < 3500 || *age > 3700 {
			t.Errorf("seconds since the last success an hour later: %v", age)
		}
		if value(f, "imsfeed_seconds_since_last_success", map[string]string{"tenant": w.other}) != nil {
			t.Errorf("a tenant never imported has an age of its last success")
		}
		if t.Failed() {
			var names []string
			for n := range f {
				names = append(names, n)
			}
			t.Fatalf("families: %s", strings.Join(names, " "))
		}
	})
}

// Issue 12: /healthz tells a load balancer whether this process can reach its store: 200 while
// the store answers, 503 once it does not.
func TestHealthzChecksTheStore(t *testing.T) {
	open := map[string]func(t *testing.T) store.Store{
		"sqlite": func(t *testing.T) store.Store {
			s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "state.db"))
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		"postgres": func(t *testing.T) store.Store {
			u := storetest.PostgresURL(t)
			s, err := postgres.Open(context.Background(), u)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			st := open[name](t)
			h := console.Health(st, nil)
			get := func() (int, string) {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
				return rec.Code, rec.Body.String()
			}
			if code, body := get(); code != http.StatusOK || body != "ok\n" {
				t.Fatalf("healthz with the store up: %d %q", code, body)
			}
			st.Close()
			if code, body := get(); code != http.StatusServiceUnavailable || body != "store unreachable\n" {
				t.Fatalf("healthz with the store closed: %d %q, want 503", code, body)
			}
		})
	}
}
