package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/store"
)

// testLiveReport: LiveActivity sums the requests and allowances after the last LiveReported,
// by operation and outcome; a report never moves back; other tenants are apart.
func testLiveReport(t *testing.T, s store.Store) {
	l, ok := s.(store.Live)
	if !ok {
		t.Skip("no live channel")
	}
	ctx := context.Background()
	tenant := tenantName("live")
	at := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	log := func(op, major, minor string, ins, upd, del [3]int, restored int) {
		e := &store.LiveEntry{At: at, Tenant: tenant, Dialect: "imses1", Operation: op, CodeMajor: major, CodeMinor: minor,
			Inserted: ins, Updated: upd, Removed: del, Restored: restored}
		if err := l.LiveApply(ctx, store.LiveApplyParams{Entry: e, Now: at}); err != nil {
			t.Fatal(err)
		}
	}
	log("createPerson", "success", "fullsuccess", [3]int{1, 0, 0}, [3]int{}, [3]int{}, 0)
	log("createPerson", "success", "fullsuccess", [3]int{0, 0, 0}, [3]int{}, [3]int{}, 1)
	log("deletePersons", "failure", store.RefusedMinor, [3]int{}, [3]int{}, [3]int{}, 0)
	log("replaceGroup", "success", "fullsuccess", [3]int{}, [3]int{0, 1, 0}, [3]int{0, 0, 3}, 0)
	// A LIS 2.0 client's retry: counted apart, by its dialect, as a repeat.
	repeat := &store.LiveEntry{At: at, Tenant: tenant, Dialect: "lis2", Operation: "createPerson", CodeMajor: "success", CodeMinor: "fullsuccess",
		Description: store.LiveRepeatPrefix + "1: nothing applied again"}
	if err := l.LiveApply(ctx, store.LiveApplyParams{Entry: repeat, Now: at}); err != nil {
		t.Fatal(err)
	}
	if err := l.LiveAllow(ctx, tenant, 7, "ops", "merger", at); err != nil {
		t.Fatal(err)
	}
	if err := l.LiveAllow(ctx, tenantName("other"), 1, "ops", "elsewhere", at); err != nil {
		t.Fatal(err)
	}
	a, err := l.LiveActivity(ctx, tenant)
	if err != nil {
		t.Fatal(err)
	}
	lc := func(op, major, minor string, n int) store.LiveCount {
		return store.LiveCount{Dialect: "imses1", Operation: op, Major: major, Minor: minor, N: n}
	}
	want := []store.LiveCount{lc("createPerson", "success", "fullsuccess", 2),
		{Dialect: "lis2", Operation: "createPerson", Major: "success", Minor: "fullsuccess", Repeat: true, N: 1},
		lc("deletePersons", "failure", store.RefusedMinor, 1), lc("replaceGroup", "success", "fullsuccess", 1)}
	if !reflect.DeepEqual(a.Requests, want) || a.Total() != 5 || a.Refused() != 1 || !a.Since.IsZero() {
		t.Fatalf("activity: %+v", a)
	}
	if a.Created != [3]int{2, 0, 0} || a.Restored != 1 || a.Updated != [3]int{0, 1, 0} || a.Deleted != [3]int{0, 0, 3} {
		t.Fatalf("changes: %+v", a)
	}
	if len(a.Allowances) != 1 || a.Allowances[0].Deletes != 7 || a.Allowances[0].By != "ops" || a.Allowances[0].Reason != "merger" {
		t.Fatalf("allowances: %+v", a.Allowances)
	}
	reported := at.Add(time.Hour)
	if err := l.LiveReported(ctx, tenant, a, reported); err != nil {
		t.Fatal(err)
	}
	log("readPerson", "failure", "unknownobject", [3]int{}, [3]int{}, [3]int{}, 0)
	b, err := l.LiveActivity(ctx, tenant)
	if err != nil {
		t.Fatal(err)
	}
	if !b.Since.Equal(reported) || b.Total() != 1 || len(b.Allowances) != 0 || b.Requests[0].Operation != "readPerson" {
		t.Fatalf("after the report: %+v", b)
	}
	// An older activity reported late does not move the report back.
	if err := l.LiveReported(ctx, tenant, &store.LiveActivity{}, reported); err != nil {
		t.Fatal(err)
	}
	if c, err := l.LiveActivity(ctx, tenant); err != nil || c.Total() != 1 {
		t.Fatalf("the report moved back: %+v %v", c, err)
	}
}

// testLiveRepeat: a write is a repeat of the last write with its message identifier and keys
// only when that one is the same request (dialect, operation, hash); whole failures (no
// result) and entries without a hash never are; other tenants are apart.
func testLiveRepeat(t *testing.T, s store.Store) {
	l, ok := s.(store.Live)
	if !ok {
		t.Skip("no live channel")
	}
	ctx := context.Background()
	tenant := tenantName("repeat")
	at := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	entry := func(tenant, op, hash string, keys ...string) *store.LiveEntry {
		return &store.LiveEntry{At: at, Tenant: tenant, Dialect: "lis2", Operation: op, MessageID: "2", Keys: keys, RequestHash: hash,
			CodeMajor: "success", CodeMinor: "fullsuccess"}
	}
	logged := func(e *store.LiveEntry, result bool) int64 {
		if result {
			e.Result = []byte(`{"statuses":[]}`)
		}
		if err := l.LiveApply(ctx, store.LiveApplyParams{Entry: e, Now: at}); err != nil {
			t.Fatal(err)
		}
		return e.ID
	}
	repeats := func(e *store.LiveEntry) int64 {
		t.Helper()
		got, err := l.LiveRepeat(ctx, e, at.Add(-time.Hour))
		if errors.Is(err, store.ErrNotFound) {
			return 0
		}
		if err != nil {
			t.Fatal(err)
		}
		if got.RequestHash != e.RequestHash || string(got.Result) != `{"statuses":[]}` {
			t.Fatalf("repeat entry: %+v", got)
		}
		return got.ID
	}
	a := logged(entry(tenant, "replacePerson", "h-ada", "P1"), true)
	logged(entry(tenant, "replacePerson", "h-other", "P2"), true)
	if got := repeats(entry(tenant, "replacePerson", "h-ada", "P1")); got != a {
		t.Fatalf("the same request again: repeat of %d, want %d", got, a)
	}
	for what, e := range map[string]*store.LiveEntry{
		"changed content": entry(tenant, "replacePerson", "h-augusta", "P1"),
		"other operation": entry(tenant, "createPerson", "h-ada", "P1"),
		"other tenant":    entry(tenantName("repeat-other"), "replacePerson", "h-ada", "P1"),
		"no hash":         entry(tenant, "replacePerson", "", "P1"),
	} {
		if got := repeats(e); got != 0 {
			t.Errorf("%s: taken for a repeat of %d", what, got)
		}
	}
	b := logged(entry(tenant, "replacePerson", "h-augusta", "P1"), true)
	// A whole failure (busy) of the first request again decides nothing.
	logged(entry(tenant, "replacePerson", "h-ada", "P1"), false)
	if got := repeats(entry(tenant, "replacePerson", "h-ada", "P1")); got != 0 {
		t.Fatalf("the first request after another change to P1 is a repeat of %d", got)
	}
	if got := repeats(entry(tenant, "replacePerson", "h-augusta", "P1")); got != b {
		t.Fatalf("the last request again: repeat of %d, want %d", got, b)
	}
	if got, err := l.LiveRepeat(ctx, entry(tenant, "replacePerson", "h-augusta", "P1"), at.Add(time.Second)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a request before the window is repeated: %+v %v", got, err)
	}
}

// testLiveChildren: LiveLoad's ChildrenOf finds the groups with a given parent, among several
// parents, whatever characters the key holds (LIKE wildcards, quotes, JSON-escaped ones), and
// not the groups whose parent merely contains the key; Groups carry their template.
func testLiveChildren(t *testing.T, s store.Store) {
	l, ok := s.(store.Live)
	if !ok {
		t.Skip("no live channel")
	}
	tenant := tenantName("children")
	odd := `x<&>"_%!\`
	course := group("c1", "Course 1", "term", "xl")
	course.Template = "tmpl"
	apply(t, s, &change.Plan{Tenant: tenant, Mode: "snapshot", Groups: []change.Group{
		{Op: change.Insert, Group: group("term", "Term")},
		{Op: change.Insert, Group: group("xl", "Cross-list")},
		{Op: change.Insert, Group: group("x_", "Like x_")},
		{Op: change.Insert, Group: group(odd, "Odd")},
		{Op: change.Insert, Group: course, Course: true},
		{Op: change.Insert, Group: group("c2", "Course 2", "term")},
		{Op: change.Insert, Group: group("c3", "Course 3", "xl2")},
		{Op: change.Insert, Group: group("c4", "Course 4", "X_")},
		{Op: change.Insert, Group: group("c5", "Course 5", odd)},
	}})
	for _, tc := range []struct {
		parent string
		want   []string
	}{{"xl", []string{"c1"}}, {"term", []string{"c1", "c2"}}, {"x_", nil}, {odd, []string{"c5"}}, {"none", nil}} {
		o, err := l.LiveLoad(context.Background(), tenant, store.LiveQuery{ChildrenOf: []string{tc.parent}})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for k := range o.Groups {
			got = append(got, k)
		}
		sort.Strings(got)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("children of %q: %v, want %v", tc.parent, got, tc.want)
		}
		if g, ok := o.Groups["c1"]; ok && (g.Template != "tmpl" || !g.Course || !reflect.DeepEqual(g.Parents, []string{"term", "xl"})) {
			t.Errorf("c1 read as %+v", g)
		}
	}
}

// testLiveIndex: live writes keep the state index current and equal to the rows, and a load
// reads each person's last write: persons created in bulk, one of them replaced twice in a
// row, a membership added, then a live trashing and a night's apply on top of them; and more
// live writes than the index keeps apart (pending.go) before it folds them into its buckets.
func testLiveIndex(t *testing.T, s store.Store) {
	l, ok := s.(store.Live)
	if !ok {
		t.Skip("no live channel")
	}
	ctx := context.Background()
	tenant := tenantName("liveindex")
	apply(t, s, initial(tenant))
	at := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	live := func(p *change.Plan) {
		t.Helper()
		p.Tenant, p.BaseVersion = tenant, load(t, s, tenant).Version // load checks the index
		e := &store.LiveEntry{At: at, Tenant: tenant, Dialect: "imses1", Operation: "createPersons", CodeMajor: "success"}
		if err := l.LiveApply(ctx, store.LiveApplyParams{Plan: p, Entry: e, Now: at}); err != nil {
			t.Fatal(err)
		}
	}
	upsert := func(op change.Op, key, name string) change.Person {
		return change.Person{Op: op, Person: person(key, name)}
	}
	bulk := &change.Plan{}
	for i := range 100 {
		bulk.Persons = append(bulk.Persons, upsert(change.Insert, fmt.Sprintf("x%03d", i), "First"))
	}
	live(bulk)
	live(&change.Plan{Persons: []change.Person{upsert(change.Update, "x001", "Second")}})
	live(&change.Plan{Persons: []change.Person{upsert(change.Update, "x001", "Third"), upsert(change.Insert, "y1", "New")},
		Memberships: []change.Membership{{Op: change.Insert, Membership: member("math1", "y1", "01")}}})
	st := load(t, s, tenant)
	if p := st.Persons["x001"]; p.Name != "Third" || p.Hash != person("x001", "Third").Hash || p.Trashed {
		t.Fatalf("x001 loaded as %+v after two replaces: want the last", p)
	}
	if _, ok := st.Memberships.Get(mkey("math1", "y1", "01")); !ok || len(st.Persons) != 104 {
		t.Fatalf("after the live writes: %d persons, membership math1/y1/01 %v", len(st.Persons), ok)
	}

	// A trashing needs the person's entry as the last write left it.
	live(&change.Plan{Persons: []change.Person{{Op: change.Delete, Person: record.Person{Key: "x001"}}}})
	if p := load(t, s, tenant).Persons["x001"]; p.Name != "Third" || !p.Trashed {
		t.Fatalf("x001 loaded as %+v after a live trashing", p)
	}
	live(&change.Plan{Persons: []change.Person{upsert(change.Update, "x002", "Again")}})
	night := &change.Plan{Tenant: tenant, Mode: "snapshot", BaseVersion: load(t, s, tenant).Version,
		Persons: []change.Person{upsert(change.Update, "x003", "Night"), {Op: change.Delete, Person: record.Person{Key: "x004"}}}}
	apply(t, s, night)
	st = load(t, s, tenant)
	if st.Persons["x002"].Name != "Again" || st.Persons["x003"].Name != "Night" || !st.Persons["x004"].Trashed {
		t.Fatalf("after a night on top of live writes: %+v %+v %+v", st.Persons["x002"], st.Persons["x003"], st.Persons["x004"])
	}

	// More live writes than the index keeps apart: the last of them folds them in.
	for i := range 300 {
		p := &change.Plan{Persons: []change.Person{upsert(change.Update, fmt.Sprintf("x%03d", i%100), fmt.Sprint("Live ", i))}}
		v, err := s.StateVersion(ctx, tenant)
		if err != nil {
			t.Fatal(err)
		}
		p.Tenant, p.BaseVersion = tenant, v
		e := &store.LiveEntry{At: at, Tenant: tenant, Dialect: "imses1", Operation: "replacePerson", CodeMajor: "success"}
		if err := l.LiveApply(ctx, store.LiveApplyParams{Plan: p, Entry: e, Now: at}); err != nil {
			t.Fatal(err)
		}
	}
	st = load(t, s, tenant)
	if p := st.Persons["x042"]; p.Name != "Live 242" || p.Trashed {
		t.Fatalf("x042 loaded as %+v after 300 live replaces", p)
	}
}

// testLiveActive: LiveActive counts the active persons, active groups and synced memberships
// of the tenant alone (not trashed persons, archived courses, manual memberships, other
// tenants' rows), each up to its bound: exact under it, the bound at or over it, 0 unbounded.
func testLiveActive(t *testing.T, s store.Store) {
	l, ok := s.(store.Live)
	if !ok {
		t.Skip("no live channel")
	}
	ctx := context.Background()
	tenant, other := tenantName("active"), tenantName("other")
	fill := func(tenant string, persons int) {
		p := &change.Plan{Tenant: tenant, Mode: "snapshot", Groups: []change.Group{
			{Op: change.Insert, Group: group("school", "School")},
			{Op: change.Insert, Group: group("art", "Art", "school"), Course: true},
			{Op: change.Insert, Group: group("math", "Math", "school"), Course: true},
		}}
		for i := range persons {
			key := fmt.Sprintf("p%03d", i)
			p.Persons = append(p.Persons, change.Person{Op: change.Insert, Person: person(key, "Pupil "+key)})
			p.Memberships = append(p.Memberships,
				change.Membership{Op: change.Insert, Membership: member("math", key, "01")},
				change.Membership{Op: change.Insert, Membership: member("art", key, "01")})
		}
		apply(t, s, p)
	}
	fill(other, 60)
	fill(tenant, 30)
	// Five pupils to the trash can (their memberships go), the art course archived (its
	// memberships turn manual), and a manual membership in math.
	gone := &change.Plan{Tenant: tenant, BaseVersion: 1, Groups: []change.Group{{Op: change.Archive, Group: group("art", "Art", "school"), Course: true}}}
	for i := range 5 {
		key := fmt.Sprintf("p%03d", i)
		gone.Persons = append(gone.Persons, change.Person{Op: change.Delete, Person: person(key, "Pupil "+key)})
		gone.Memberships = append(gone.Memberships, change.Membership{Op: change.Delete, Membership: member("math", key, "01"), Cascade: true},
			change.Membership{Op: change.Delete, Membership: member("art", key, "01"), Cascade: true})
	}
	for i := 5; i < 30; i++ {
		gone.Memberships = append(gone.Memberships, change.Membership{Op: change.Manualize, Membership: member("art", fmt.Sprintf("p%03d", i), "01")})
	}
	apply(t, s, gone)
	if err := s.AddManualMembership(ctx, tenant, store.ManualMembership{Group: "math", Member: "guest", Role: "02", MemberType: 1}); err != nil {
		t.Fatal(err)
	}
	status, err := s.Status(ctx, tenant)
	if err != nil {
		t.Fatal(err)
	}
	whole := [3]int{status.Persons.Active, status.Groups.Active, status.Memberships.Synced}
	if whole != [3]int{25, 2, 25} {
		t.Fatalf("the tenant's status %+v: want 25 active persons, 2 active groups, 25 synced memberships", status)
	}
	for _, tc := range []struct{ atMost, want [3]int }{
		{[3]int{}, [3]int{}},
		{[3]int{1000, 1000, 1000}, whole},
		{[3]int{25, 2, 25}, whole},
		{[3]int{24, 1, 3}, [3]int{24, 1, 3}},
		{[3]int{0, 5, 0}, [3]int{0, 2, 0}},
	} {
		got, err := l.LiveActive(ctx, tenant, tc.atMost)
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("LiveActive up to %v: %v, want %v", tc.atMost, got, tc.want)
		}
	}
}

// testLiveTally: LiveTally counts every request of the tenant from since on and those not
// answered with success, past the 1,000 rows a page reads (the failures here are among the
// newest); LiveEntries with Newest keeps the last rows of the window, oldest first.
func testLiveTally(t *testing.T, s store.Store) {
	l, ok := s.(store.Live)
	if !ok {
		t.Skip("no live channel")
	}
	ctx := context.Background()
	tenant, other := tenantName("tally"), tenantName("other")
	since := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	log := func(tenant string, at time.Time, id, major string) {
		e := &store.LiveEntry{At: at, Tenant: tenant, Dialect: "imses1", Operation: "readPerson", MessageID: id, CodeMajor: major}
		if err := l.LiveApply(ctx, store.LiveApplyParams{Entry: e, Now: at}); err != nil {
			t.Fatal(err)
		}
	}
	// Before the window, and another tenant's: not counted.
	log(tenant, since.Add(-time.Second), "yesterday", "failure")
	log(other, since, "elsewhere", "failure")
	const n = 1005
	for i := 1; i <= n; i++ {
		major := "success"
		if i == 2 || i > n-4 {
			major = "failure"
		}
		if i == n-5 {
			major = "processing"
		}
		log(tenant, since.Add(time.Duration(i)*time.Second), fmt.Sprintf("m%04d", i), major)
	}
	requests, failed, err := l.LiveTally(ctx, tenant, since)
	if err != nil {
		t.Fatal(err)
	}
	if requests != n || failed != 6 {
		t.Fatalf("LiveTally since %s: %d requests, %d not success; want %d, 6", since, requests, failed, n)
	}
	if requests, failed, err := l.LiveTally(ctx, tenantName("none"), since); err != nil || requests != 0 || failed != 0 {
		t.Fatalf("LiveTally of a tenant without requests: %d, %d, %v", requests, failed, err)
	}
	es, err := l.LiveEntries(ctx, store.LiveLogParams{Tenant: tenant, Since: since, Limit: 3, Newest: true})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range es {
		ids = append(ids, e.MessageID)
	}
	if want := []string{"m1003", "m1004", "m1005"}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("the newest 3: %v, want %v", ids, want)
	}
}

// testLiveTouched: what the live requests applied since a state version touched, for approval
// (change.Touched): each write request's plan or rename is summed, with the request that
// touched each key first; a request that changed nothing adds nothing; a version the live
// channel did not make (a run's apply) or a request logged over a minute before since is
// ErrStateChanged.
func testLiveTouched(t *testing.T, s store.Store) {
	l, ok := s.(store.Live)
	if !ok {
		t.Skip("no live channel")
	}
	ctx := context.Background()
	tenant := tenantName("livetouched")
	apply(t, s, initial(tenant))
	v0 := load(t, s, tenant).Version
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	send := func(e *store.LiveEntry, p store.LiveApplyParams) int64 {
		t.Helper()
		e.At, e.Tenant, e.Dialect, e.CodeMajor = at, tenant, "imses1", "success"
		if p.Plan != nil {
			p.Plan.Tenant, p.Plan.BaseVersion = tenant, load(t, s, tenant).Version
		}
		p.Entry, p.Now = e, at
		if err := l.LiveApply(ctx, p); err != nil {
			t.Fatal(err)
		}
		return e.ID
	}
	created := send(&store.LiveEntry{Operation: "createPerson"}, store.LiveApplyParams{Plan: &change.Plan{
		Persons: []change.Person{{Op: change.Insert, Person: person("new1", "New Pupil")}}}})
	send(&store.LiveEntry{Operation: "readPerson"}, store.LiveApplyParams{}) // changes nothing
	joined := send(&store.LiveEntry{Operation: "createMembership"}, store.LiveApplyParams{Plan: &change.Plan{
		Memberships: []change.Membership{{Op: change.Insert, Membership: member("math1", "new1", "01")}}}})
	hash := person("p1-renamed", "Ada Lovelace").Hash
	renamed := send(&store.LiveEntry{Operation: "changePersonIdentifier"}, store.LiveApplyParams{RenameBase: load(t, s, tenant).Version,
		Renames: []store.LiveRename{{Old: "p1", New: "p1-renamed", Hash: hash,
			Memberships: map[record.MembershipKey]record.Hash{mkey("math1", "p1", "01"): member("math1", "p1-renamed", "01").Hash}}}})
	v := load(t, s, tenant).Version
	if v != v0+3 {
		t.Fatalf("state version %d after three live writes from %d", v, v0)
	}
	touched, err := l.LiveTouched(ctx, tenant, at, v0, v)
	if err != nil || touched.Requests != 3 {
		t.Fatalf("LiveTouched: %+v %v, want the three writes", touched, err)
	}
	for _, c := range []struct {
		plan *change.Plan
		want string
	}{
		{&change.Plan{Persons: []change.Person{{Op: change.Update, Person: person("new1", "Other")}}}, fmt.Sprintf("live request %d", created)},
		{&change.Plan{Groups: []change.Group{{Op: change.Delete, Group: record.Group{Key: "math1"}}}}, fmt.Sprintf("live request %d", joined)},
		{&change.Plan{Memberships: []change.Membership{{Op: change.Insert, Membership: member("math1", "p1", "01")}}}, fmt.Sprintf("live request %d", renamed)},
		{&change.Plan{Persons: []change.Person{{Op: change.Update, Person: person("p2", "Other")}}}, ""},
	} {
		if got, _ := touched.Collides(c.plan); (got == "") != (c.want == "") || !strings.Contains(got, c.want) {
			t.Errorf("conflict %q, want %q", got, c.want)
		}
	}
	if touched, err := l.LiveTouched(ctx, tenant, at, v0+1, v); err != nil || touched.Requests != 2 {
		t.Errorf("LiveTouched from the first write on: %+v %v, want two", touched, err)
	}
	// A request is logged with the time it arrived: up to a minute before since still counts.
	if touched, err := l.LiveTouched(ctx, tenant, at.Add(30*time.Second), v0, v); err != nil || touched.Requests != 3 {
		t.Errorf("LiveTouched since 30 s after the requests arrived: %+v %v, want the three writes", touched, err)
	}
	if _, err := l.LiveTouched(ctx, tenant, at.Add(time.Minute+time.Second), v0, v); !errors.Is(err, store.ErrStateChanged) {
		t.Errorf("LiveTouched of requests logged over a minute before since: %v, want ErrStateChanged", err)
	}
	apply(t, s, &change.Plan{Tenant: tenant, BaseVersion: v, Persons: []change.Person{{Op: change.Update, Person: person("p2", "By A Run")}}})
	if _, err := l.LiveTouched(ctx, tenant, at, v0, v+1); !errors.Is(err, store.ErrStateChanged) {
		t.Errorf("LiveTouched over a run's version: %v, want ErrStateChanged", err)
	}
}

// testLiveMemberships: LiveLoad reads each membership whole (type, attributes, hash, manual or
// not) by its member (persons only), by its group (and a group as a member), by (group,
// member) pair with every role, and by the identifiers an IMS ES client stored for it; never
// another tenant's, nor a group's membership for a person of the same key.
func testLiveMemberships(t *testing.T, s store.Store) {
	l, ok := s.(store.Live)
	if !ok {
		t.Skip("no live channel")
	}
	ctx := context.Background()
	tenant, other := tenantName("livemembers"), tenantName("livemembers-other")
	withAttrs := member("g1", "p1", "01")
	withAttrs.Attrs = record.Attrs{{Name: "subrole", Value: "Lead"}}
	withAttrs.ComputeHash()
	asMember := member("unit", "g1", "01")
	asMember.MemberType = record.MemberGroup
	asMember.ComputeHash()
	sameKey := member("unit", "p3", "01") // a group whose key is a person's too
	sameKey.MemberType = record.MemberGroup
	sameKey.ComputeHash()
	ms := []record.Membership{withAttrs, member("g1", "p1", "02"), member("g1", "p2", "01"), member("g2", "p1", "01"),
		member("g2", "p3", "02"), asMember, sameKey}
	for _, tn := range []string{tenant, other} {
		p := &change.Plan{Tenant: tn, Mode: "snapshot", Groups: []change.Group{
			{Op: change.Insert, Group: group("unit", "Unit")}, {Op: change.Insert, Group: group("g1", "G1", "unit")},
			{Op: change.Insert, Group: group("g2", "G2")}, {Op: change.Insert, Group: group("p3", "Also a group")},
		}}
		for _, k := range []string{"p1", "p2", "p3"} {
			p.Persons = append(p.Persons, change.Person{Op: change.Insert, Person: person(k, "Name "+k)})
		}
		if tn == tenant {
			for _, m := range ms {
				p.Memberships = append(p.Memberships, change.Membership{Op: change.Insert, Membership: m})
			}
		} else {
			p.Memberships = append(p.Memberships, change.Membership{Op: change.Insert, Membership: member("g1", "p1", "03")})
		}
		apply(t, s, p)
	}
	if err := s.AddManualMembership(ctx, tenant, store.ManualMembership{Group: "g2", Member: "p3", Role: "02", MemberType: int(record.MemberPerson)}); err != nil {
		t.Fatal(err)
	}
	v, err := s.StateVersion(ctx, tenant)
	if err != nil {
		t.Fatal(err)
	}
	e := &store.LiveEntry{At: now, Tenant: tenant, Dialect: "imses1", Operation: "createMembership", CodeMajor: "success"}
	if err := l.LiveApply(ctx, store.LiveApplyParams{Entry: e, Now: now, IDs: []store.LiveMembershipID{{ID: "id-1", Key: mkey("g2", "p3", "02")}}}); err != nil {
		t.Fatal(err)
	}
	stored := map[record.MembershipKey]store.StoredMembership{}
	for _, m := range ms {
		stored[m.MembershipKey] = store.StoredMembership{Membership: m}
	}
	manual := stored[mkey("g2", "p3", "02")]
	manual.Manual, manual.Hash = true, record.Hash{}
	stored[manual.MembershipKey] = manual
	want := func(keys ...record.MembershipKey) map[record.MembershipKey]store.StoredMembership {
		out := map[record.MembershipKey]store.StoredMembership{}
		for _, k := range keys {
			out[k] = stored[k]
		}
		return out
	}
	for _, tc := range []struct {
		name string
		q    store.LiveQuery
		want map[record.MembershipKey]store.StoredMembership
		ids  map[string][]record.MembershipKey
	}{
		{"of persons", store.LiveQuery{MembershipsOfPersons: []string{"p1", "p3"}},
			want(mkey("g1", "p1", "01"), mkey("g1", "p1", "02"), mkey("g2", "p1", "01"), mkey("g2", "p3", "02")), nil},
		{"of groups", store.LiveQuery{MembershipsOfGroups: []string{"g1"}},
			want(mkey("g1", "p1", "01"), mkey("g1", "p1", "02"), mkey("g1", "p2", "01"), mkey("unit", "g1", "01")), nil},
		{"of a group that is also a person's key", store.LiveQuery{MembershipsOfGroups: []string{"p3"}}, want(mkey("unit", "p3", "01")), nil},
		{"of pairs", store.LiveQuery{MembershipsOfPairs: [][2]string{{"g1", "p1"}, {"g2", "nobody"}}},
			want(mkey("g1", "p1", "01"), mkey("g1", "p1", "02")), nil},
		{"by identifier", store.LiveQuery{MembershipIDs: []string{"id-1", "id-none"}},
			want(mkey("g2", "p3", "02")), map[string][]record.MembershipKey{"id-1": {mkey("g2", "p3", "02")}}},
		{"with identifiers", store.LiveQuery{MembershipsOfPersons: []string{"p3"}, WithIDs: true},
			want(mkey("g2", "p3", "02")), map[string][]record.MembershipKey{"id-1": {mkey("g2", "p3", "02")}}},
		{"none", store.LiveQuery{MembershipsOfPersons: []string{"p9"}, MembershipsOfGroups: []string{"g9"}}, want(), nil},
	} {
		o, err := l.LiveLoad(ctx, tenant, tc.q)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if o.Version != v {
			t.Errorf("%s: version %d, want %d", tc.name, o.Version, v)
		}
		if !reflect.DeepEqual(o.Memberships, tc.want) {
			t.Errorf("%s: read\n%+v\nwant\n%+v", tc.name, o.Memberships, tc.want)
		}
		if tc.ids == nil {
			tc.ids = map[string][]record.MembershipKey{}
		}
		if !reflect.DeepEqual(o.IDs, tc.ids) {
			t.Errorf("%s: identifiers %v, want %v", tc.name, o.IDs, tc.ids)
		}
	}
}
