package imses

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/imsfeed/imsfeed/archive"
	"github.com/imsfeed/imsfeed/diff"
	"github.com/imsfeed/imsfeed/importer/ims"
	"github.com/imsfeed/imsfeed/live"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/safety"
	"github.com/imsfeed/imsfeed/store"
	"github.com/imsfeed/imsfeed/store/postgres"
	"github.com/imsfeed/imsfeed/store/sqlite"
	"github.com/imsfeed/imsfeed/store/storetest"
)

// stores runs a test on SQLite and, when a test server is given, on PostgreSQL. Under CI the
// PostgreSQL half must run.
func stores(t *testing.T, test func(t *testing.T, open func(t *testing.T) store.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		test(t, func(t *testing.T) store.Store {
			s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "state.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		})
	})
	t.Run("postgres", func(t *testing.T) {
		url := storetest.PostgresURL(t)
		test(t, func(t *testing.T) store.Store {
			s, err := postgres.Open(context.Background(), url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		})
	})
}

// The corpus client's credentials.
const (
	corpusUser = "dbild-user"
	corpusPass = "dbild-pass&<secret>"
)

// env is one tenant behind a live endpoint.
type env struct {
	t      testing.TB
	st     store.Store
	tenant *live.Tenant
	srv    *httptest.Server
	h      *Handler
}

func newEnv(t *testing.T, open func(t *testing.T) store.Store) *env {
	return envOn(t, open(t))
}

// envOn is newEnv on a store opened already (a benchmark's).
func envOn(t testing.TB, st store.Store) *env {
	tn := &live.Tenant{ID: fmt.Sprintf("t%08x", rand.Uint32()), Courses: archive.DefaultCoursePolicy(), Safety: safety.DefaultPolicy()}
	h := &Handler{
		Service: &live.Service{Store: st},
		Auth:    live.NewAuth([]live.Credential{{Username: corpusUser, Password: corpusPass, Tenant: tn}}),
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{t: t, st: st, tenant: tn, srv: srv, h: h}
}

// answer is what a test reads of a response.
type answer struct {
	http     int
	root     *node
	statuses []statusOf
	fault    string
	raw      string
}

type statusOf struct{ major, minor, desc string }

func (e *env) post(body string, tune ...func(*http.Request)) answer {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.srv.URL+"/ims/es/v1p0", strings.NewReader(body))
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	for _, f := range tune {
		f(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{http: resp.StatusCode, raw: string(b)}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/xml") {
		e.t.Fatalf("answer of type %q, not SOAP: %s", ct, b)
	}
	root, err := parse(bytes.NewReader(b))
	if err != nil {
		e.t.Fatalf("answer is not XML: %v\n%s", err, b)
	}
	a.root = root
	if f := root.Path("Body", "Fault"); f != nil {
		a.fault = f.Child("faultcode").Str() + ": " + f.Child("faultstring").Str()
		return a
	}
	h := root.Path("Header", "syncResponseHeaderInfo")
	if h == nil {
		e.t.Fatalf("answer without syncResponseHeaderInfo: %s", b)
	}
	if root.Path("Header", "Security", "Timestamp", "Created") == nil {
		e.t.Fatalf("answer without a wsse:Security Timestamp: %s", b)
	}
	infos := h.Children("statusInfo")
	if set := h.Child("statusInfoSet"); set != nil {
		infos = set.Children("statusInfo")
	}
	for _, si := range infos {
		a.statuses = append(a.statuses, statusOf{si.Child("codeMajor").Str(), si.Path("codeMinor", "codeMinorField", "codeMinorFieldValue").Str(), si.Path("description", "text").Str()})
	}
	return a
}

func (a answer) want(t *testing.T, what, major, minor string) {
	t.Helper()
	if a.fault != "" {
		t.Fatalf("%s: fault %s", what, a.fault)
	}
	if len(a.statuses) == 0 || a.statuses[0].major != major || (minor != "" && a.statuses[0].minor != minor) {
		t.Fatalf("%s: want %s/%s, got %+v\n%s", what, major, minor, a.statuses, a.raw)
	}
}

func corpus(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "imses1-itslearning", "requests", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (e *env) status() store.TenantStatus {
	s, err := e.st.Status(context.Background(), e.tenant.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// TestCorpusRequestsOnBothStores replays the real client's 13 requests in order and checks
// each answer and what the store holds after it.
func TestCorpusRequestsOnBothStores(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open)
		a := e.post(corpus(t, "001-createPerson.xml"))
		a.want(t, "createPerson", "success", "fullsuccess")
		if s := e.status(); s.Persons.Active != 1 || s.StateVersion != 1 {
			t.Fatalf("after createPerson: %+v", s)
		}
		a = e.post(corpus(t, "002-readPerson.xml"))
		a.want(t, "readPerson", "success", "")
		p := a.root.Path("Body", "readPersonResponse", "person")
		if p == nil || p.Child("formatName").Str() != "Erika Mustermann" || p.Child("email").Str() != "erika.mustermann@example.org" ||
			p.Path("userId", "userIdValue").Str() != "erika.mustermann" {
			t.Fatalf("readPerson answer: %s", a.raw)
		}
		if strings.Contains(a.raw, "passWord") {
			t.Fatalf("readPerson returns a password: %s", a.raw)
		}

		a = e.post(corpus(t, "003-createPersons.xml"))
		if len(a.statuses) != 10 {
			t.Fatalf("createPersons: want 10 statuses, got %+v\n%s", a.statuses, a.raw)
		}
		for i, s := range a.statuses {
			if s.major != "success" {
				t.Fatalf("createPersons item %d: %+v", i, s)
			}
		}
		if s := e.status(); s.Persons.Active != 11 || s.StateVersion != 2 {
			t.Fatalf("a plural create bumps the state version once: %+v", s)
		}

		e.post(corpus(t, "004-createGroup.xml")).want(t, "createGroup", "success", "")
		a = e.post(corpus(t, "005-readGroup.xml"))
		a.want(t, "readGroup", "success", "")
		if g := a.root.Path("Body", "readGroupResponse", "group"); g.Path("description", "descShort").Str() != "Mathe 7a" || g.Path("groupType", "typeValue", "type").Str() != "Course" {
			t.Fatalf("readGroup answer: %s", a.raw)
		}
		e.post(corpus(t, "006-updateGroup.xml")).want(t, "updateGroup", "success", "")
		a = e.post(strings.Replace(corpus(t, "005-readGroup.xml"), "05-readGroup", "05b-readGroup", 1))
		g := a.root.Path("Body", "readGroupResponse", "group")
		if g.Path("description", "descShort").Str() != "Mathe 7b" || g.Path("groupType", "typeValue", "type").Str() != "Course" {
			t.Fatalf("updateGroup changes only what it carries (the type stays): %s", a.raw)
		}

		e.post(corpus(t, "007-createMemberships.xml")).want(t, "createMemberships", "success", "")
		a = e.post(corpus(t, "008-readMembershipsForPerson.xml"))
		a.want(t, "readMembershipsForPerson", "success", "")
		pairs := a.root.Path("Body", "readMembershipsForPersonResponse", "membershipIDPairSet").Children("membershipIdPair")
		if len(pairs) != 1 || identifier(pairs[0].Child("sourcedId")) != "membership-P1-G1" ||
			pairs[0].Path("membership", "member", "role", "roleType").Str() != "Learner" {
			t.Fatalf("readMembershipsForPerson: %s", a.raw)
		}
		e.post(corpus(t, "009-deleteMemberships.xml")).want(t, "deleteMemberships", "success", "")
		if s := e.status(); s.Memberships.Synced != 0 {
			t.Fatalf("after deleteMemberships: %+v", s)
		}
		e.post(corpus(t, "010-deletePerson.xml")).want(t, "deletePerson", "success", "")
		if s := e.status(); s.Persons.Active != 10 || s.Persons.Trashed != 1 {
			t.Fatalf("deletePerson moves the person to the trash can: %+v", s)
		}
		e.post(corpus(t, "011-readPerson.xml")).want(t, "readPerson of a trashed person", "failure", "unknownobject")
		e.post(corpus(t, "012-deletePersons.xml")).want(t, "deletePersons", "success", "")
		e.post(corpus(t, "013-deleteGroup.xml")).want(t, "deleteGroup", "success", "")
		s := e.status()
		if s.Persons.Active != 0 || s.Persons.Trashed != 11 || s.Groups.Active != 0 || s.Groups.Archived != 1 {
			t.Fatalf("after the corpus: %+v", s)
		}

		// Every request is in the log, with its message identifier and outcome.
		entries, err := e.st.(store.Live).LiveEntries(context.Background(), store.LiveLogParams{Tenant: e.tenant.ID})
		if err != nil {
			t.Fatal(err)
		}
		var ops []string
		for _, en := range entries {
			ops = append(ops, en.Operation+"="+en.CodeMajor)
		}
		if len(entries) != 14 || entries[0].MessageID != "dbild-2d48f388-01-createPerson" || entries[0].Keys[0] != "P1" ||
			entries[11].CodeMinor != "unknownobject" || entries[12].Removed != [3]int{10, 0, 0} || entries[13].Removed != [3]int{0, 1, 0} {
			t.Fatalf("log: %v\n%+v", ops, entries[0])
		}
	})
}

// TestRepeatedMessageIdentifierAppliesNothing: the same createPerson sent twice gets the first
// answer (success) again, not idallocinusefail, and changes nothing.
func TestRepeatedMessageIdentifierAppliesNothing(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open)
		e.post(corpus(t, "001-createPerson.xml")).want(t, "createPerson", "success", "fullsuccess")
		v := e.status().StateVersion
		e.post(corpus(t, "001-createPerson.xml")).want(t, "the same createPerson again", "success", "fullsuccess")
		if s := e.status(); s.StateVersion != v || s.Persons.Active != 1 {
			t.Fatalf("a repeated message identifier applied something: %+v", s)
		}
		other := strings.Replace(corpus(t, "001-createPerson.xml"), "01-createPerson<", "01x-createPerson<", 1)
		e.post(other).want(t, "createPerson of an existing key", "failure", "idallocinusefail")
	})
}

// TestSameMessageIdentifierWithChangedDataIsApplied: a client that sends one message
// identifier with every request (as Banner ILP does over LIS 2.0) has a changed replacePerson
// applied; only the identical request again (a retry, with a fresh nonce) is a repeat; the
// first names sent again after the change are applied again.
func TestSameMessageIdentifierWithChangedDataIsApplied(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open)
		fixed := func(s string) string {
			i := strings.Index(s, "<h:messageIdentifier>") + len("<h:messageIdentifier>")
			j := strings.Index(s, "</h:messageIdentifier>")
			return s[:i] + "2" + s[j:]
		}
		name := func(want string) {
			t.Helper()
			o, err := e.st.(store.Live).LiveLoad(context.Background(), e.tenant.ID, store.LiveQuery{Persons: []string{"P1"}})
			if err != nil {
				t.Fatal(err)
			}
			if got := o.Persons["P1"].Name; got != want {
				t.Fatalf("stored name %q, want %q", got, want)
			}
		}
		e.post(fixed(soap("replacePerson", sid("P1")+personXMLIn("Ada", "Lovelace", "")))).want(t, "replacePerson Ada", "success", "fullsuccess")
		changed := fixed(soap("replacePerson", sid("P1")+personXMLIn("Augusta", "King", "")))
		e.post(changed).want(t, "replacePerson Augusta, same identifier", "success", "fullsuccess")
		name("Augusta King")
		v := e.status().StateVersion
		retry := strings.Replace(changed, "</o:Password>", "</o:Password><o:Nonce>bm9uY2UtMg==</o:Nonce>", 1)
		e.post(retry).want(t, "the identical replace again", "success", "fullsuccess")
		if s := e.status(); s.StateVersion != v {
			t.Fatalf("an identical resend applied again: %+v", s)
		}
		e.post(fixed(soap("replacePerson", sid("P1")+personXMLIn("Ada", "Lovelace", "")))).want(t, "back to Ada, same identifier", "success", "fullsuccess")
		name("Ada Lovelace")
		entries, err := e.st.(store.Live).LiveEntries(context.Background(), store.LiveLogParams{Tenant: e.tenant.ID})
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 4 || entries[2].Description != fmt.Sprintf("repeat of request %d: nothing applied again", entries[1].ID) ||
			strings.HasPrefix(entries[1].Description, "repeat") || strings.HasPrefix(entries[3].Description, "repeat") {
			t.Fatalf("log: %+v", entries)
		}
	})
}

// TestBadInputGetsASOAPAnswerAndChangesNothing: not XML, a wrong envelope, an unknown operation,
// a missing sourcedId, a body over the limit, a DOCTYPE or entity.
func TestBadInputGetsASOAPAnswerAndChangesNothing(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open)
		create := corpus(t, "001-createPerson.xml")
		faults := map[string]string{
			"not XML":        "this is not XML",
			"truncated":      create[:len(create)/2],
			"wrong envelope": `<Envelope xmlns="urn:x"><Body/></Envelope>`,
			"SOAP 1.2":       `<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body/></e:Envelope>`,
			"no body":        `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header/></s:Envelope>`,
			"DOCTYPE":        `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaa">]>` + create,
			"entity":         strings.Replace(create, "Erika", "&xxe;", 1),
			"must understand": strings.Replace(create, "<soapenv:Header>",
				`<soapenv:Header><x:Routing xmlns:x="urn:routing" soapenv:mustUnderstand="1"/>`, 1),
			"empty": "",
		}
		for what, body := range faults {
			a := e.post(body)
			if a.fault == "" || a.http != 500 {
				t.Errorf("%s: want a SOAP fault, got HTTP %d %s", what, a.http, a.raw)
			}
		}
		e.h.MaxBody = 1 << 20
		big := strings.Replace(create, "Erika", strings.Repeat("E", 2<<20), 1)
		if a := e.post(big); a.http != 413 || !strings.Contains(a.fault, "request body over the 1 MiB limit") {
			t.Errorf("body over the limit: HTTP %d %s", a.http, a.raw)
		}
		unknown := strings.ReplaceAll(create, "createPersonRequest", "frobnicatePersonRequest")
		e.post(unknown).want(t, "unknown operation", "unsupported", "")
		noKey := strings.Replace(create, "<ims1:identifier>P1</ims1:identifier>", "", 1)
		e.post(noKey).want(t, "missing sourcedId", "failure", "invaliddata")
		if s := e.status(); s.StateVersion != 0 || s.Persons.Active != 0 {
			t.Fatalf("bad input changed the store: %+v", s)
		}
	})
}

// TestAuthFailuresSayNothingAndSlowDown: a wrong password, a wrong username, no credential and
// a digest password all get the same failure; Basic auth works in place of a UsernameToken.
func TestAuthFailuresSayNothingAndSlowDown(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open)
		create := corpus(t, "001-createPerson.xml")
		bad := map[string]string{
			"wrong password": strings.Replace(create, "dbild-pass&amp;", "dbild-pass&amp;x", 1),
			"wrong username": strings.Replace(create, ">dbild-user<", ">dbild-usr<", 1),
			"digest":         strings.Replace(create, "#PasswordText", "#PasswordDigest", 1),
			"no token":       create[:strings.Index(create, "<wsse:Security")] + create[strings.Index(create, "</wsse:Security>")+len("</wsse:Security>"):],
		}
		var descs []string
		for what, body := range bad {
			a := e.post(body)
			a.want(t, what, "failure", "unauthorizedrequest")
			descs = append(descs, a.statuses[0].desc)
		}
		sort.Strings(descs)
		if descs[0] != descs[len(descs)-1] {
			t.Errorf("failures differ, a hint which part was wrong: %q", descs)
		}
		if s := e.status(); s.Persons.Active != 0 {
			t.Fatalf("an unauthorised request changed the store: %+v", s)
		}
		// The fourth failure from one address is answered late.
		if d := e.h.Auth.Failed("192.0.2.1"); d != 0 {
			t.Fatalf("first failure delayed %v", d)
		}
		e.h.Auth.Failed("192.0.2.1")
		e.h.Auth.Failed("192.0.2.1")
		if d := e.h.Auth.Failed("192.0.2.1"); d == 0 {
			t.Fatal("repeated failures are not slowed down")
		}
		noToken := bad["no token"]
		a := e.post(noToken, func(r *http.Request) { r.SetBasicAuth(corpusUser, corpusPass) })
		a.want(t, "HTTP Basic", "success", "fullsuccess")
	})
}

// TestLiveThenNightlyIsNoUpdate: a person, group and membership made live and then found
// identical in a snapshot file make an empty change set (what the nightly import would apply).
func TestLiveThenNightlyIsNoUpdate(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		t.Run("plain", func(t *testing.T) { liveThenNightly(t, open, nil) })
		// The tenant's XPath mappings apply to live records too, on the file's form of them.
		t.Run("with tenant mappings", func(t *testing.T) {
			liveThenNightly(t, open, []ims.Mapping{
				{Name: "pwchange", Type: record.Persons, XPath: "string(extension/passwordchange)"},
				{Name: "fn", Type: record.Persons, XPath: "string(name/fn)"},
				{Name: "code", Type: record.Groups, XPath: "string(extension/course)"},
				{Name: "parent", Type: record.Groups, XPath: "string(relationship[@relation='1']/sourcedid/id)"},
				{Name: "kind", Type: record.Memberships, XPath: "concat(member/idtype, '/', member/sourcedid/id)"},
			})
		})
	})
}

func liveThenNightly(t *testing.T, open func(t *testing.T) store.Store, maps []ims.Mapping) {
	{
		e := newEnv(t, open)
		m, err := ims.NewMapper(maps)
		if err != nil {
			t.Fatal(err)
		}
		e.tenant.Mapper = m
		e.post(corpus(t, "001-createPerson.xml")).want(t, "createPerson", "success", "")
		group := corpus(t, "004-createGroup.xml")
		i := strings.Index(group, "<ims1:extensionField><ims1:fieldName>course/code")
		j := strings.Index(group[i:], "</ims1:extensionField>") + i + len("</ims1:extensionField>")
		e.post(group[:i]+group[j:]).want(t, "createGroup", "success", "")
		e.post(corpus(t, "007-createMemberships.xml")).want(t, "createMemberships", "success", "")

		night := `<enterprise>
<person><sourcedid><id>P1</id></sourcedid><name><fn>Erika Mustermann</fn><n><family>Mustermann</family><given>Erika</given></n></name>
  <email>erika.mustermann@example.org</email><userid>erika.mustermann</userid>
  <institutionrole primaryrole="Yes" institutionroletype="Student"/><extension><passwordchange>NotAllowed</passwordchange></extension></person>
<group><sourcedid><id>G1</id></sourcedid>
  <grouptype><scheme>ItslearningOrganisationTypes</scheme><typevalue>Course</typevalue></grouptype>
  <description><short>Mathe 7a</short><long>Mathematik Klasse 7a (dbild harness)</long><full>Kurs Mathematik der Klasse 7a, angelegt vom dbild Interop-Harness</full></description>
  <relationship relation="1"><sourcedid><id>SCHOOL1</id></sourcedid></relationship>
  <extension><course>Mathe 7a</course></extension></group>
<membership><sourcedid><id>G1</id></sourcedid><member><sourcedid><id>P1</id></sourcedid><idtype>1</idtype><role roletype="Learner"/></member></membership>
</enterprise>`
		st, err := e.st.LoadState(context.Background(), e.tenant.ID)
		if err != nil {
			t.Fatal(err)
		}
		d := diff.New(st, diff.Options{Courses: e.tenant.Courses})
		if _, err := ims.Read(context.Background(), strings.NewReader(night), "night.xml", ims.Options{Mappings: maps}, d); err != nil {
			t.Fatal(err)
		}
		plan, _, err := d.Finish(diff.Finish{Mode: diff.Snapshot})
		if err != nil {
			t.Fatal(err)
		}
		if !plan.Empty() {
			t.Fatalf("the nightly file after the live requests is not a no-op: persons %+v groups %+v memberships %+v", plan.Persons, plan.Groups, plan.Memberships)
		}
		if maps != nil {
			o, err := e.st.(store.Live).LiveLoad(context.Background(), e.tenant.ID, store.LiveQuery{Persons: []string{"P1"}, Groups: []string{"G1"}, MembershipsOfGroups: []string{"G1"}})
			if err != nil {
				t.Fatal(err)
			}
			p, g := o.Persons["P1"].Attrs, o.Groups["G1"].Attrs
			var kind string
			for _, m := range o.Memberships {
				kind = m.Attrs.Get("x.kind")
			}
			if p.Get("x.pwchange") != "NotAllowed" || p.Get("x.fn") != "Erika Mustermann" || g.Get("x.code") != "Mathe 7a" || g.Get("x.parent") != "SCHOOL1" || kind != "1/P1" {
				t.Fatalf("mapped attributes stored live: person %v group %v membership kind %q", p, g, kind)
			}
		}
	}
}

// TestWSDLNamesEveryImplementedOperation: GET ?wsdl is well-formed and has a binding operation
// with its SOAPAction for each operation the endpoint implements, at the request's address.
func TestWSDLNamesEveryImplementedOperation(t *testing.T) {
	e := newEnv(t, func(t *testing.T) store.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "state.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
	resp, err := http.Get(e.srv.URL + "/ims/es/v1p0?wsdl")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	root, err := parse(bytes.NewReader(b))
	if err != nil || root.Local != "definitions" {
		t.Fatalf("WSDL is not a WSDL document: %v", err)
	}
	doc := string(b)
	for _, op := range Operations() {
		if !strings.Contains(doc, `<wsdl:operation name="`+op+`"><soap:operation soapAction="http://www.imsglobal.org/soap/`) {
			t.Errorf("WSDL lacks operation %s", op)
		}
	}
	if !strings.Contains(doc, `location="`+e.srv.URL+`/ims/es/v1p0"`) {
		t.Errorf("WSDL address is not the request's")
	}
}

// A retry sent while its first is still being applied (a client's timeout, a load balancer's
// retry) gets the first's answer as a repeat, not a failure for the write that succeeded.
func TestConcurrentRetriesAreRepeats(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open)
		create := corpus(t, "001-createPerson.xml")
		const n = 6
		bodies := make([]string, n)
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				resp, err := http.Post(e.srv.URL+"/ims/es/v1p0", "text/xml; charset=utf-8", strings.NewReader(create))
				if err != nil {
					errs[i] = err
					return
				}
				defer resp.Body.Close()
				b, err := io.ReadAll(resp.Body)
				bodies[i], errs[i] = string(b), err
			}()
		}
		close(start)
		wg.Wait()
		success := regexp.MustCompile(`codeMajor>success<`)
		for i := range n {
			if errs[i] != nil || !success.MatchString(bodies[i]) {
				t.Errorf("request %d of the same createPerson: %v\n%s", i, errs[i], bodies[i])
			}
		}
		if s := e.status(); s.Persons.Active != 1 {
			t.Errorf("%d persons after one createPerson sent %d times at once", s.Persons.Active, n)
		}
		entries, err := e.st.(store.Live).LiveEntries(context.Background(), store.LiveLogParams{Tenant: e.tenant.ID})
		if err != nil {
			t.Fatal(err)
		}
		var applied []int64
		for _, en := range entries {
			if !strings.HasPrefix(en.Description, "repeat of request ") {
				applied = append(applied, en.ID)
			}
		}
		if len(entries) != n || len(applied) != 1 {
			t.Fatalf("log of %d entries, %d not repeats (want %d and 1): %+v", len(entries), len(applied), n, entries)
		}
		for _, en := range entries {
			if en.ID != applied[0] && en.Description != fmt.Sprintf("repeat of request %d: nothing applied again", applied[0]) {
				t.Errorf("entry %d: %q, want a repeat of request %d", en.ID, en.Description, applied[0])
			}
		}
	})
}
