package lis

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/archive"
	"github.com/imsfeed/imsfeed/live"
	"github.com/imsfeed/imsfeed/live/soap"
	"github.com/imsfeed/imsfeed/safety"
	"github.com/imsfeed/imsfeed/store"
	"github.com/imsfeed/imsfeed/store/postgres"
	"github.com/imsfeed/imsfeed/store/sqlite"
	"github.com/imsfeed/imsfeed/store/storetest"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// stores runs a test on SQLite and, when a test server is given, on PostgreSQL. Under CI the
// PostgreSQL half must run.
func stores(t *testing.T, test func(t *testing.T, open func(t *testing.T) store.Store)) {
	t.Run("sqlite", func(t *testing.T) { test(t, openSQLite) })
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

func openSQLite(t *testing.T) store.Store {
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

const (
	testUser = "ilp-user"
	testPass = "ilp-pass&<secret>"
)

// env is one tenant behind a LIS 2.0 endpoint.
type env struct {
	t      *testing.T
	st     store.Store
	tenant *live.Tenant
	srv    *httptest.Server
	h      *Handler
}

func newEnv(t *testing.T, open func(t *testing.T) store.Store) *env {
	st := open(t)
	tn := &live.Tenant{ID: fmt.Sprintf("t%08x", rand.Uint32()), Courses: archive.DefaultCoursePolicy(), Safety: safety.DefaultPolicy()}
	h := &Handler{
		Service: &live.Service{Store: st},
		Auth:    live.NewAuth([]live.Credential{{Username: testUser, Password: testPass, Tenant: tn}}),
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{t: t, st: st, tenant: tn, srv: srv, h: h}
}

// answer is what a test reads of a response.
type answer struct {
	http               int
	root               *soap.Node
	major, minor, desc string
	fault, raw         string
}

// post sends body with HTTP Basic credentials (Banner ILP's requests carry no WS-Security).
func (e *env) post(body string) answer {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.srv.URL+Path, strings.NewReader(body))
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.SetBasicAuth(testUser, testPass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{http: resp.StatusCode, raw: string(b)}
	root, err := soap.Parse(bytes.NewReader(b))
	if err != nil {
		e.t.Fatalf("answer is not XML: %v\n%s", err, b)
	}
	a.root = root
	if f := root.Path("Body", "Fault"); f != nil {
		a.fault = f.Child("faultcode").Str() + ": " + f.Child("faultstring").Str()
		return a
	}
	si := root.Path("Header", "imsx_syncResponseHeaderInfo", "imsx_statusInfo")
	if si == nil {
		e.t.Fatalf("answer without imsx_syncResponseHeaderInfo/imsx_statusInfo: %s", b)
	}
	a.major, a.desc = si.Child("imsx_codeMajor").Str(), si.Child("imsx_description").Str()
	a.minor = si.Path("imsx_codeMinor", "imsx_codeMinorField", "imsx_codeMinorFieldValue").Str()
	return a
}

func (a answer) want(t *testing.T, what, major, minor string) {
	t.Helper()
	if a.fault != "" {
		t.Fatalf("%s: fault %s", what, a.fault)
	}
	if a.major != major || (minor != "" && a.minor != minor) {
		t.Fatalf("%s: want %s/%s, got %s/%s %q\n%s", what, major, minor, a.major, a.minor, a.desc, a.raw)
	}
}

func (e *env) status() store.TenantStatus {
	s, err := e.st.Status(context.Background(), e.tenant.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// corpusFiles are the real requests in the order the golden test replays them; the
// Turnitin templates' placeholders are filled in.
var corpusFiles = []string{
	"lis2-banner-ilp/term_replace.xml",
	"lis2-banner-ilp/section_replace.xml",
	"lis2-banner-ilp/person_replace.xml",
	"lis2-turnitin/readPerson.template.xml",
	"lis2-turnitin/addMember.template.xml",
	"lis2-banner-ilp/person_member_delete.xml",
	"lis2-banner-ilp/section_assoc_replace.xml",
	"lis2-turnitin/createPerson.template.xml",
	"lis2-turnitin/discoverPerson.template.xml",
}

var placeholders = strings.NewReplacer("%%messageid%%", "tii-1", "%%personid%%", "1000001", "%%courseid%%", "44654.201740",
	"%%role%%", "Learner", "%%firstname%%", "Tina", "%%lastname%%", "Turn", "%%email%%", "tina@example.org")

func corpus(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return placeholders.Replace(string(b))
}

var volatile = regexp.MustCompile(`imsfeed-[0-9a-f]{32}|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z`)

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./live/lis -update to write it)", err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s differs from the golden file (go test ./live/lis -update rewrites it):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// TestCorpusGoldens reads every real request into a live.Request (golden JSON) and replays
// them in order against one tenant, each answer golden too.
func TestCorpusGoldens(t *testing.T) {
	e := newEnv(t, openSQLite)
	for _, name := range corpusFiles {
		body := corpus(t, name)
		base := strings.TrimSuffix(filepath.Base(name), ".xml")
		env, ferr := soap.ReadEnvelope([]byte(body), understood)
		if ferr != nil {
			t.Fatalf("%s: %v", name, ferr)
		}
		parsed := map[string]any{"operation": opName(env.Body)}
		if op, ok := operations[opName(env.Body)]; ok && op.unsupported == "" {
			parsed["request"] = request(op, env.Body)
		} else {
			parsed["unsupported"] = op.unsupported
		}
		js, _ := json.MarshalIndent(parsed, "", "  ")
		golden(t, base+".request.json", append(js, '\n'))
		a := e.post(body)
		if a.fault != "" {
			t.Fatalf("%s: fault %s", name, a.fault)
		}
		golden(t, base+".answer.xml", []byte(volatile.ReplaceAllString(a.raw, "VOLATILE")+"\n"))
	}
}

// TestWSDLNamesEveryImplementedOperation: GET ?wsdl is well-formed and binds each implemented
// operation with its SOAPAction, at the request's address.
func TestWSDLNamesEveryImplementedOperation(t *testing.T) {
	e := newEnv(t, openSQLite)
	resp, err := http.Get(e.srv.URL + Path + "?wsdl")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	root, err := soap.Parse(bytes.NewReader(b))
	if err != nil || root.Local != "definitions" {
		t.Fatalf("WSDL is not a WSDL document: %v", err)
	}
	doc := string(b)
	for _, op := range Operations() {
		if !strings.Contains(doc, `<wsdl:operation name="`+op+`"><soap:operation soapAction="http://www.imsglobal.org/soap/lis/`) {
			t.Errorf("WSDL lacks operation %s", op)
		}
	}
	if !strings.Contains(doc, `location="`+e.srv.URL+Path+`"`) {
		t.Errorf("WSDL address is not the request's")
	}
}

// TestCredentialsChooseTheTenant: two tenants behind one endpoint, each with its own
// credentials: a request changes and reads only the tenant its credentials name, and the
// same sourcedId is two persons.
func TestCredentialsChooseTheTenant(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open)
		other := &live.Tenant{ID: e.tenant.ID + "-other", Courses: archive.DefaultCoursePolicy(), Safety: safety.DefaultPolicy()}
		e.h.Auth = live.NewAuth([]live.Credential{
			{Username: testUser, Password: testPass, Tenant: e.tenant},
			{Username: "other-ilp", Password: "other-pass", Tenant: other},
		})
		asOther := func(body string) string {
			body = strings.Replace(body, "<o:Username>"+testUser+"</o:Username>", "<o:Username>other-ilp</o:Username>", 1)
			return strings.Replace(body, "<o:Password>ilp-pass&amp;&lt;secret&gt;</o:Password>", "<o:Password>other-pass</o:Password>", 1)
		}
		e.post(lisReq("replacePerson", personRec("P1", "Ada", "Lovelace", "", ""))).want(t, "replacePerson, first tenant", "success", "")
		e.post(asOther(lisReq("readPerson", sid("P1")))).want(t, "readPerson, other tenant", "failure", live.UnknownObject)
		e.post(asOther(lisReq("replacePerson", personRec("P1", "Grace", "Hopper", "", "")))).want(t, "replacePerson, other tenant", "success", "")
		o, err := e.st.(store.Live).LiveLoad(context.Background(), other.ID, store.LiveQuery{Persons: []string{"P1"}})
		if err != nil {
			t.Fatal(err)
		}
		if got := o.Persons["P1"].Name; got != "Grace Hopper" {
			t.Fatalf("other tenant's P1: %q", got)
		}
		if got := e.stored("P1").Name; got != "Ada Lovelace" {
			t.Fatalf("first tenant's P1 changed by the other's credentials: %q", got)
		}
	})
}
