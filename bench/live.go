package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	_ "github.com/lib/pq" // the cleanup's driver

	"github.com/imsfeed/imsfeed/archive"
	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/live"
	"github.com/imsfeed/imsfeed/live/imses"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/safety"
	"github.com/imsfeed/imsfeed/store"
	"github.com/imsfeed/imsfeed/store/postgres"
	"github.com/imsfeed/imsfeed/store/sqlite"
)

// The live channel's benchmark (`bench live`): requests/s and p50/p99 latency of readPerson,
// replacePerson and a 100-person createPersons against the IMS ES endpoint over TLS with
// keep-alive, with 1 and 8 concurrent clients, and of deleteMembership (one client) on a tenant
// of 300,000 memberships, on SQLite and (with $IMSFEED_BENCH_POSTGRES_URL) PostgreSQL; and the
// same for a bare net/http TLS handler answering a fixed body, the ceiling. Client and server run
// in this one process, on the same cores (PostgreSQL's server aside).

const (
	liveUser    = "bench"
	livePass    = "bench-pass"
	livePersons = 2000 // persons loaded before the reads and replaces

	// The large tenant the removals are measured on: every removal checks the 24 h delete
	// limits against the tenant, and while that counted the whole tenant, a deleteMembership
	// took about a second on the 316.8 MB feed's tenant (1.5 million memberships) and 130 ms on
	// one a tenth of its size.
	liveLargeUser    = "bench-large"
	liveLargePersons = 30000
	liveLargeGroups  = 1000
	liveLargeEach    = 10 // groups each person is a member of: 300,000 memberships
)

type liveFigures struct {
	store, op string
	clients   int
	n         int
	perSecond float64
	p50, p99  time.Duration
	cpu       time.Duration // CPU time of this process (client and server) per request
	failures  int64
}

// liveOptions choose what `bench live` measures.
type liveOptions struct {
	d          time.Duration
	stores     string // comma-separated; "" for all
	ops        string // comma-separated operation names ("createPersons" for createPersons×100); "" for all
	cpuProfile string // a CPU profile of the measured requests (not the loading) to this file
	profile    *os.File
	check      *ratioCheck // compare (or record) each write's CPU per request, as a ratio to the bare handler's
	log        io.Writer   // the check's lines
	bare       *target     // with check: the bare handler, measured beside each write
}

// liveRounds is how many (bare handler, write) pairs the check measures of each write.
const liveRounds = 3

// chosen reports whether name is in the comma-separated list (an empty list chooses all).
func chosen(list, name string) bool {
	if list == "" {
		return true
	}
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s != "" && strings.HasPrefix(name, s) {
			return true
		}
	}
	return false
}

func benchLive(ctx context.Context, out io.Writer, o liveOptions) error {
	d := o.d
	var rows []liveFigures
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		o.profile = f
	}
	dir, err := os.MkdirTemp("", "imsfeed-bench-live-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	type opened struct {
		name  string
		st    store.Store
		clean func()
	}
	var stores []opened
	sq, err := sqlite.Open(ctx, filepath.Join(dir, "state.db"))
	if err != nil {
		return err
	}
	if chosen(o.stores, "sqlite") {
		stores = append(stores, opened{"sqlite", sq, func() {}})
	} else {
		defer sq.Close()
	}
	if url := os.Getenv(envPostgres); url != "" && chosen(o.stores, "postgres") {
		pg, err := postgres.Open(ctx, url)
		if err != nil {
			return err
		}
		stores = append(stores, opened{"postgres", pg, func() { dropLiveTenant(url, "benchlive"); dropLiveTenant(url, "benchlive-large") }})
	}
	if o.check != nil {
		o.log = out
		o.bare = bareTarget()
		defer o.bare.close()
	}
	for _, s := range stores {
		figs, err := benchLiveStore(ctx, s.name, s.st, o)
		o.profile = nil
		s.clean()
		s.st.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		rows = append(rows, figs...)
	}
	if chosen(o.stores, "bare") || o.check != nil {
		bare, err := benchBare(ctx, d)
		if err != nil {
			return err
		}
		rows = append(rows, bare...)
	}

	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "store\toperation\tclients\trequests\treq/s\tp50\tp99\tCPU/req\tfailures\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.0f\t%s\t%s\t%s\t%d\t\n", r.store, r.op, r.clients, r.n, r.perSecond,
			r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond), r.cpu.Round(time.Microsecond), r.failures)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if o.check == nil {
		return nil
	}
	return o.check.finish(out)
}

// checkWrite gives the check a write operation's CPU time per request with 1 client (client
// and server: this process) as a ratio to the bare handler's. CPU time, not requests/s: other
// jobs on the machine lengthen the wall time of a request far more than its CPU time. Each
// write's run is paired with a bare handler's run just before it, liveRounds times, and the
// best pair's ratio counts (bestPair); the ratio is recorded under the name "live".
func checkWrite(ctx context.Context, o liveOptions, name string, client *http.Client, url string, body func() []byte) error {
	pairs := func() (float64, error) {
		var ps [][2]float64
		for range liveRounds {
			b, err := measure(ctx, o.bare.client, o.bare.url, o.bare.body, 1, o.d/6)
			if err != nil {
				return 0, fmt.Errorf("the bare handler: %w", err)
			}
			f, err := measure(ctx, client, url, body, 1, o.d/3)
			if err != nil {
				return 0, err
			}
			ps = append(ps, [2]float64{float64(b.cpu), float64(f.cpu)})
		}
		q := bestPair(ps)
		var each []string
		var cpu, bare time.Duration // of the best pair
		for _, p := range ps {
			each = append(each, fmt.Sprintf("%.0f", p[1]/p[0]))
			if p[1]/p[0] == q {
				bare, cpu = time.Duration(p[0]), time.Duration(p[1])
			}
		}
		fmt.Fprintf(o.log, "%s: %s CPU per request, %.0f× the bare handler's %s (best of %d pairs: %s)\n",
			name, cpu.Round(time.Microsecond), q, bare.Round(time.Microsecond), len(ps), strings.Join(each, ", "))
		return q, nil
	}
	q, err := pairs()
	if err != nil {
		return err
	}
	return o.check.add(o.log, "live", name, q, 0, func() (float64, int64, error) {
		q, err := pairs()
		return q, 0, err
	})
}

func dropLiveTenant(url, tenant string) {
	db, err := sql.Open("postgres", url)
	if err != nil {
		return
	}
	defer db.Close()
	for _, t := range []string{"persons", "groups", "memberships", "live_requests", "live_membership_ids", "state_index", "runs"} {
		_, _ = db.Exec("DELETE FROM "+t+" WHERE tenant = $1", tenant)
	}
	_, _ = db.Exec("DELETE FROM tenants WHERE id = $1", tenant)
}

var liveSeq atomic.Int64

func liveEnvelope(op, ns, inner string) []byte { return liveEnvelopeAs(liveUser, op, ns, inner) }

// liveEnvelopeAs is a request of user (whose password is livePass).
func liveEnvelopeAs(user, op, ns, inner string) []byte {
	return []byte(`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header>` +
		`<h:syncRequestHeaderInfo xmlns:h="http://www.imsglobal.org/services/common/imsMessBindSchema_v1p0"><h:messageIdentifier>bench-` +
		fmt.Sprint(time.Now().UnixNano(), "-", liveSeq.Add(1)) + `</h:messageIdentifier></h:syncRequestHeaderInfo>` +
		`<o:Security s:mustUnderstand="1" xmlns:o="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"><o:UsernameToken>` +
		`<o:Username>` + user + `</o:Username><o:Password>` + livePass + `</o:Password></o:UsernameToken></o:Security></s:Header>` +
		`<s:Body><` + op + `Request xmlns="` + ns + `">` + inner + `</` + op + `Request></s:Body></s:Envelope>`)
}

const (
	pmsNS = "http://www.imsglobal.org/services/pms/xsd/imsPersonManMessSchema_v1p0"
	mmsNS = "http://www.imsglobal.org/services/mms/xsd/imsMemberManMessSchema_v1p0"
)

// loadLargeTenant stores tenant as a night's initial load would: liveLargePersons persons, each
// a member of liveLargeEach of liveLargeGroups classes (largeMembership names them).
func loadLargeTenant(ctx context.Context, st store.Store, tenant string) error {
	plan := &change.Plan{Tenant: tenant, Mode: "snapshot"}
	for i := range liveLargeGroups {
		g := record.Group{Key: fmt.Sprintf("G%04d", i), Source: "bench", Name: fmt.Sprint("Class ", i),
			Types: []record.GroupType{{Scheme: "bench", Value: "Class", Level: "1"}}}
		g.ComputeHash()
		plan.Groups = append(plan.Groups, change.Group{Op: change.Insert, Group: g})
	}
	for i := range liveLargePersons {
		k := fmt.Sprintf("P%05d", i)
		p := record.Person{Key: k, Source: "bench", Name: "Pupil " + k, Attrs: record.Attrs{{Name: "email", Value: strings.ToLower(k) + "@example.org"}}}
		p.ComputeHash()
		plan.Persons = append(plan.Persons, change.Person{Op: change.Insert, Person: p})
		for j := range liveLargeEach {
			m := record.Membership{MembershipKey: largeMembership(i*liveLargeEach + j), MemberType: record.MemberPerson}
			m.ComputeHash()
			plan.Memberships = append(plan.Memberships, change.Membership{Op: change.Insert, Membership: m})
		}
	}
	now := time.Now().UTC()
	run := &runs.Run{Tenant: tenant, Status: runs.Running, StartedAt: now, Mode: "snapshot", File: runs.File{Name: "bench live: the large tenant"}}
	if err := st.CreateRun(ctx, run); err != nil {
		return err
	}
	run.Status = runs.Completed
	if err := st.Apply(ctx, store.ApplyParams{Plan: plan, Run: run, Now: now, NoUndo: true}); err != nil {
		return err
	}
	// As a night's import does after its apply: on a server whose statistics do not know the
	// tenant yet, the removals' statements were planned for an empty table (PostgreSQL in
	// make bench: 18 requests/s, p50 82 ms, against 106/s and 8.5 ms on a server that knew it).
	if ps, ok := st.(store.PlannerStats); ok {
		_, err := ps.RefreshStats(ctx, tenant, map[string]int{"persons": len(plan.Persons), "groups": len(plan.Groups), "memberships": len(plan.Memberships)})
		return err
	}
	return nil
}

// largeMembership is the n-th membership of the large tenant: person n/liveLargeEach in the
// (n%liveLargeEach)-th of its groups, which are liveLargeGroups/liveLargeEach apart.
func largeMembership(n int) record.MembershipKey {
	p, j := n/liveLargeEach, n%liveLargeEach
	g := (p + j*(liveLargeGroups/liveLargeEach)) % liveLargeGroups
	return record.MembershipKey{Group: fmt.Sprintf("G%04d", g), Member: fmt.Sprintf("P%05d", p), Role: "01"}
}

func livePerson(key, first string) string {
	return `<sourcedId><identifier>` + key + `</identifier></sourcedId><person><name><partName><namePartType>First</namePartType><namePartValue>` + first +
		`</namePartValue></partName><partName><namePartType>Last</namePartType><namePartValue>Bench</namePartValue></partName></name>` +
		`<email>` + strings.ToLower(key) + `@example.org</email><userId><userIdValue>` + strings.ToLower(key) + `</userIdValue></userId>` +
		`<institutionRole><institutionRoleType>Student</institutionRoleType><primaryRoleType>true</primaryRoleType></institutionRole></person>`
}

func createPersonsBody(prefix string, n int) []byte {
	var b strings.Builder
	b.WriteString("<personIdPairSet>")
	for i := range n {
		b.WriteString("<personIdPair>" + livePerson(fmt.Sprintf("%s%04d", prefix, i), "N") + "</personIdPair>")
	}
	b.WriteString("</personIdPairSet>")
	return liveEnvelope("createPersons", pmsNS, b.String())
}

func benchLiveStore(ctx context.Context, name string, st store.Store, o liveOptions) ([]liveFigures, error) {
	policy := safety.DefaultPolicy()
	tenant := &live.Tenant{ID: "benchlive", Courses: archive.DefaultCoursePolicy(), Safety: policy}
	// The large tenant's removals stay within the count that decides the delete limits, as
	// itslearning's term clean-ups do (a few thousand in a day); the default 10 % would have the
	// measured deletes past a thousand on SQLite's faster requests counting whole, by design.
	large := &live.Tenant{ID: "benchlive-large", Courses: archive.DefaultCoursePolicy(), Safety: safety.DefaultPolicy()}
	half := 50.0
	large.Safety.Types[record.Memberships].Deletes = safety.Limit{MaxPercent: &half}
	h := &imses.Handler{Service: &live.Service{Store: st, LockWait: 30 * time.Second},
		Auth: live.NewAuth([]live.Credential{{Username: liveUser, Password: livePass, Tenant: tenant},
			{Username: liveLargeUser, Password: livePass, Tenant: large}})}
	srv := httptest.NewTLSServer(h)
	defer srv.Close()
	client := srv.Client()
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = 16
	url := srv.URL + "/ims/es/v1p0"
	for i := 0; i < livePersons/100; i++ {
		if err := post(client, url, createPersonsBody(fmt.Sprintf("L%02d", i), 100)); err != nil {
			return nil, fmt.Errorf("load persons: %w", err)
		}
	}
	key := func() string { i := rand.IntN(livePersons); return fmt.Sprintf("L%02d%04d", i/100, i%100) }
	var batch, removed atomic.Int64
	if chosen(o.ops, "deleteMembership") {
		if err := loadLargeTenant(ctx, st, large.ID); err != nil {
			return nil, fmt.Errorf("load the large tenant: %w", err)
		}
	}
	ops := []struct {
		name    string
		body    func() []byte
		clients []int
	}{
		{"readPerson", func() []byte {
			return liveEnvelope("readPerson", pmsNS, `<sourcedId><identifier>`+key()+`</identifier></sourcedId>`)
		}, nil},
		{"replacePerson", func() []byte {
			return liveEnvelope("replacePerson", pmsNS, livePerson(key(), fmt.Sprint("R", liveSeq.Add(1))))
		}, nil},
		{"createPersons×100", func() []byte { return createPersonsBody(fmt.Sprintf("C%06d-", batch.Add(1)), 100) }, nil},
		// Each a membership of the large tenant not removed yet, spread over its groups. One
		// client: the removals of a day stay within the delete limits' counted bound.
		{"deleteMembership (300k)", func() []byte {
			k := largeMembership(int(removed.Add(1)-1) * 7919 % (liveLargePersons * liveLargeEach))
			return liveEnvelopeAs(liveLargeUser, "deleteMembership", mmsNS, `<sourcedId><identifier>`+live.KeyID(k)+`</identifier></sourcedId>`)
		}, []int{1}},
	}
	if o.profile != nil { // the measured requests of the first store, not the loading
		if err := pprof.StartCPUProfile(o.profile); err != nil {
			return nil, err
		}
		defer pprof.StopCPUProfile()
	}
	var out []liveFigures
	for _, op := range ops {
		if !chosen(o.ops, op.name) {
			continue
		}
		counts := op.clients
		if counts == nil {
			counts = []int{1, 8}
		}
		for _, clients := range counts {
			f, err := measure(ctx, client, url, op.body, clients, o.d)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", op.name, err)
			}
			f.store, f.op = name, op.name
			out = append(out, f)
		}
		if o.check != nil && op.name != "readPerson" {
			if err := checkWrite(ctx, o, name+"-"+strings.Fields(strings.TrimSuffix(op.name, "×100"))[0], client, url, op.body); err != nil {
				return nil, fmt.Errorf("%s: %w", op.name, err)
			}
		}
	}
	return out, nil
}

// target is a TLS server to send requests to, with its client and a request body.
type target struct {
	client *http.Client
	url    string
	body   func() []byte
	close  func()
}

// bareTarget is the ceiling: a net/http TLS handler that reads the request and answers a fixed
// body of a readPerson answer's size.
func bareTarget() *target {
	answer := bytes.Repeat([]byte("x"), 1500)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		_, _ = w.Write(answer)
	}))
	client := srv.Client()
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = 16
	body := func() []byte {
		return liveEnvelope("readPerson", pmsNS, `<sourcedId><identifier>L000001</identifier></sourcedId>`)
	}
	return &target{client: client, url: srv.URL, body: body, close: srv.Close}
}

// benchBare measures the bare handler with 1 and 8 clients.
func benchBare(ctx context.Context, d time.Duration) ([]liveFigures, error) {
	t := bareTarget()
	defer t.close()
	var out []liveFigures
	for _, clients := range []int{1, 8} {
		f, err := measure(ctx, t.client, t.url, t.body, clients, d)
		if err != nil {
			return nil, err
		}
		f.store, f.op = "bare net/http", "fixed body"
		out = append(out, f)
	}
	return out, nil
}

func post(c *http.Client, url string, body []byte) error {
	resp, err := c.Post(url, "text/xml; charset=utf-8", bytes.NewReader(body))
	if err != nil {
		return err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 || (bytes.Contains(b, []byte("<codeMajor>")) && bytes.Contains(b, []byte("<codeMajor>failure"))) {
		return fmt.Errorf("HTTP %d: %.2000s", resp.StatusCode, b)
	}
	return nil
}

// measure runs clients workers sending requests for d and returns the figures.
func measure(ctx context.Context, c *http.Client, url string, body func() []byte, clients int, d time.Duration) (liveFigures, error) {
	var mu sync.Mutex
	var lat []time.Duration
	var failures atomic.Int64
	var firstErr error
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	start, cpu := time.Now(), processCPU()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for time.Now().Before(deadline) && ctx.Err() == nil {
				b := body()
				t0 := time.Now()
				err := post(c, url, b)
				mine = append(mine, time.Since(t0))
				if err != nil {
					failures.Add(1)
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed, cpu := time.Since(start), processCPU()-cpu
	if len(lat) == 0 {
		return liveFigures{}, fmt.Errorf("no request finished")
	}
	if failures.Load() == int64(len(lat)) {
		return liveFigures{}, firstErr
	}
	if firstErr != nil {
		fmt.Fprintf(os.Stderr, "bench live: %d of %d requests failed; the first: %v\n", failures.Load(), len(lat), firstErr)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	return liveFigures{clients: clients, n: len(lat), perSecond: float64(len(lat)) / elapsed.Seconds(),
		p50: pct(0.50), p99: pct(0.99), cpu: cpu / time.Duration(len(lat)), failures: failures.Load()}, nil
}
