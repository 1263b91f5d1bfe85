package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// testCA is a throwaway certificate authority and a server certificate for 127.0.0.1.
type testCA struct {
	caFile, certFile, keyFile string
	pool                      *x509.CertPool
}

func newTestCA(t testing.TB, dir string) testCA {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "imsfeed test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	c := testCA{caFile: filepath.Join(dir, "ca.pem"), certFile: filepath.Join(dir, "cert.pem"), keyFile: filepath.Join(dir, "key.pem"), pool: x509.NewCertPool()}
	os.WriteFile(c.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644)
	os.WriteFile(c.certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(c.keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	c.pool.AddCert(ca)
	return c
}

// serving is a running `imsfeed serve` with its listener's URL.
type serving struct {
	url    string
	cmd    *exec.Cmd
	stderr *logLines
}

// logLines is serve's log so far: written by the goroutine that reads it, read by the test.
type logLines struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logLines) WriteString(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.WriteString(s)
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var listening = regexp.MustCompile(`url=(https?://\S+)`)

// startServe starts `imsfeed serve` in dir and waits for its listener.
func startServe(t *testing.T, dir string, env ...string) *serving {
	t.Helper()
	cmd := exec.Command(binary, "serve")
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "IMSFEED_CONFIG=", "IMSFEED_DATA_DIR="+filepath.Join(dir, "data")), env...)
	pipe, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &serving{cmd: cmd, stderr: &logLines{}}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			s.stderr.WriteString(sc.Text() + "\n")
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
		if strings.Contains(s.stderr.String(), "WARNING: DATA RACE") { // a -race binary (underRace)
			t.Errorf("serve:\n%s", s.stderr.String())
		}
	})
	select {
	case s.url = <-found:
	case <-time.After(20 * time.Second):
		t.Fatalf("serve did not start its listener\n%s", s.stderr.String())
	}
	return s
}

func liveConfig(dir, httpBlock string) string {
	return fmt.Sprintf(`store: sqlite://%s/state.db
data_dir: %s
%s
tenants:
  - id: north
    es: {username: dbild-user, password_file: %s/es-pass}
`, dir, dir, httpBlock, dir)
}

// TestServeAnswersTheLiveChannelOverTLS: serve with a TLS listener on a port the OS chooses
// takes the real client's createPerson with its UsernameToken, answers /healthz, and `es log`
// lists the request.
func TestServeAnswersTheLiveChannelOverTLS(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, dir)
	os.WriteFile(filepath.Join(dir, "es-pass"), []byte("dbild-pass&<secret>\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "imsfeed.yaml"), []byte(liveConfig(dir, fmt.Sprintf(`http:
  listen: "127.0.0.1:0"
  tls: {cert_file: %s, key_file: %s}`, ca.certFile, ca.keyFile))), 0o644)
	s := startServe(t, dir)
	if !strings.HasPrefix(s.url, "https://") {
		t.Fatalf("listener %s is not TLS", s.url)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool}}}
	resp, err := client.Get(s.url + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", err, resp)
	}
	resp.Body.Close()
	// The same listener serves the console's sign-in page and /metrics.
	for path, want := range map[string]string{"/login": "Sign in", "/metrics": "imsfeed_store_up 1"} {
		resp, err := client.Get(s.url + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Fatalf("GET %s: %d, want %q in\n%s", path, resp.StatusCode, want, b)
		}
	}

	body, _ := os.ReadFile("../../live/imses/testdata/imses1-itslearning/requests/001-createPerson.xml")
	resp, err = client.Post(s.url+"/ims/es/v1p0", "text/xml; charset=utf-8", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(answer), "<codeMajor>success</codeMajor>") {
		t.Fatalf("createPerson over TLS: %s\n%s", answer, s.stderr.String())
	}
	if strings.Contains(s.stderr.String(), "secret") {
		t.Fatalf("the password reached the log:\n%s", s.stderr.String())
	}
	// serve counts the request for /metrics.
	resp, err = client.Get(s.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`imsfeed_live_requests_total{code="fullsuccess",operation="createPerson",outcome="success"} 1`,
		`imsfeed_live_request_duration_seconds_count{operation="createPerson"} 1`} {
		if !strings.Contains(string(metrics), want) {
			t.Fatalf("/metrics lacks %s:\n%s", want, metrics)
		}
	}

	r := imsfeed(t, dir, "--config", filepath.Join(dir, "imsfeed.yaml"), "es", "log", "--tenant", "north", "--json")
	var entries []struct {
		Operation string   `json:"operation"`
		MessageID string   `json:"message_id"`
		Keys      []string `json:"keys"`
		CodeMajor string   `json:"code_major"`
		Version   int64    `json:"state_version"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &entries); err != nil || len(entries) != 1 {
		t.Fatalf("es log --json: %v %q %s", err, r.stdout, r.stderr)
	}
	if e := entries[0]; e.Operation != "createPerson" || e.MessageID != "dbild-2d48f388-01-createPerson" || e.Keys[0] != "P1" || e.CodeMajor != "success" || e.Version != 1 {
		t.Fatalf("es log: %+v", e)
	}
	r = imsfeed(t, dir, "--config", filepath.Join(dir, "imsfeed.yaml"), "status", "--tenant", "north", "--json")
	if !strings.Contains(r.stdout, `"active": 1`) && !strings.Contains(r.stdout, `"active":1`) {
		t.Fatalf("status after a live createPerson: %s", r.stdout)
	}

	// The client's retry of createPerson, and a read of a person nobody created: `es log`'s
	// table says what the operator must know of each, not only "success" and "failure", with
	// times in the machine's zone, named, as `imsfeed runs` writes them.
	read, _ := os.ReadFile("../../live/imses/testdata/imses1-itslearning/requests/002-readPerson.xml")
	for _, b := range []string{string(body), strings.Replace(string(read), ">P1<", ">P9<", 1)} {
		resp, err := client.Post(s.url+"/ims/es/v1p0", "text/xml; charset=utf-8", strings.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	var all []struct {
		ID int64     `json:"id"`
		At time.Time `json:"at"`
	}
	r = imsfeed(t, dir, "--config", filepath.Join(dir, "imsfeed.yaml"), "es", "log", "--tenant", "north", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &all); err != nil || len(all) != 3 {
		t.Fatalf("es log --json after the retry and the read: %v %s", err, r.stdout)
	}
	r = imsfeed(t, dir, "--config", filepath.Join(dir, "imsfeed.yaml"), "es", "log", "--tenant", "north")
	rows := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(rows) != 4 || !strings.HasSuffix(rows[0], "DESCRIPTION") {
		t.Fatalf("es log: %s %s", r.stdout, r.stderr)
	}
	for i, want := range []string{"success", fmt.Sprintf("repeat of request %d: nothing applied again", all[0].ID),
		`failure/unknownobject`} {
		row := rows[i+1]
		stamp := all[i].At.Local().Format("2006-01-02 15:04:05 MST")
		if !strings.HasPrefix(row, fmt.Sprint(all[i].ID)+" ") || !strings.Contains(row, stamp) || !strings.Contains(row, want) {
			t.Errorf("es log's row %d lacks its id %d, its time %q or %q:\n%s", i+1, all[i].ID, stamp, want, r.stdout)
		}
	}
	if strings.Contains(rows[1], "repeat") || !strings.HasSuffix(rows[3], `person "P9" is unknown`) {
		t.Errorf("es log's first request called a repeat, or its failure without its description:\n%s", r.stdout)
	}
}

// TestPlainHTTPOnlyOnLoopback: a listener without tls on a non-loopback address is a
// configuration error naming the rule; on 127.0.0.1 it starts.
func TestPlainHTTPOnlyOnLoopback(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "es-pass"), []byte("pw"), 0o600)
	cfg := filepath.Join(dir, "imsfeed.yaml")
	os.WriteFile(cfg, []byte(liveConfig(dir, "http: {listen: \":0\"}")), 0o644)
	r := imsfeed(t, dir, "--config", cfg, "serve")
	if r.code != 2 || !strings.Contains(r.stderr, "plain HTTP is only allowed on a loopback address") {
		t.Fatalf("plain HTTP on all addresses: exit %d %s", r.code, r.stderr)
	}
	os.WriteFile(cfg, []byte(liveConfig(dir, "http: {listen: \"127.0.0.1:0\"}")), 0o644)
	s := startServe(t, dir)
	resp, err := http.Get(s.url + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz on loopback: %v %v", err, resp)
	}
	resp.Body.Close()
}

// zeepPython is a Python with zeep (Debian's python3-zeep lives in /usr/bin/python3; a PATH
// python3 may be another one). scripts/test.sh installs python3-zeep where missing.
func zeepPython(t *testing.T) string {
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(py, "-c", "import zeep").Run() == nil {
			return py
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no python3 with zeep under CI (scripts/test.sh installs python3-zeep)")
	}
	t.Skip("no python3 with zeep (apt-get install python3-zeep)")
	return ""
}

// TestZeepCallsTheLiveChannelFromItsWSDL: a SOAP client nobody here wrote loads
// GET /ims/es/v1p0?wsdl over HTTPS with a throwaway CA and calls create, read, replace, update,
// delete and a plural create with a UsernameToken.
func TestZeepCallsTheLiveChannelFromItsWSDL(t *testing.T) {
	py := zeepPython(t)
	dir := t.TempDir()
	ca := newTestCA(t, dir)
	os.WriteFile(filepath.Join(dir, "es-pass"), []byte("zeep-pass&<1>"), 0o600)
	os.WriteFile(filepath.Join(dir, "imsfeed.yaml"), []byte(liveConfig(dir, fmt.Sprintf(`http:
  listen: "127.0.0.1:0"
  tls: {cert_file: %s, key_file: %s}`, ca.certFile, ca.keyFile))), 0o644)
	s := startServe(t, dir)
	script, _ := filepath.Abs("testdata/zeep_client.py")
	out, err := exec.Command(py, script, s.url+"/ims/es/v1p0?wsdl", ca.caFile, "dbild-user", "zeep-pass&<1>").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "zeep: all calls answered as expected") {
		t.Fatalf("zeep: %v\n%s\nserve:\n%s", err, out, s.stderr.String())
	}
}

// TestZeepCallsTheLISChannelFromItsWSDL: zeep loads GET /ims/lis/v2p0?wsdl over HTTPS with a
// throwaway CA and calls replacePerson, readPerson, replaceMembership, replaceSectionAssociation,
// readSectionAssociation and deletePerson (and what they need) with a UsernameToken.
func TestZeepCallsTheLISChannelFromItsWSDL(t *testing.T) {
	py := zeepPython(t)
	dir := t.TempDir()
	ca := newTestCA(t, dir)
	os.WriteFile(filepath.Join(dir, "es-pass"), []byte("zeep-pass&<1>"), 0o600)
	os.WriteFile(filepath.Join(dir, "imsfeed.yaml"), []byte(liveConfig(dir, fmt.Sprintf(`http:
  listen: "127.0.0.1:0"
  tls: {cert_file: %s, key_file: %s}`, ca.certFile, ca.keyFile))), 0o644)
	s := startServe(t, dir)
	script, _ := filepath.Abs("testdata/zeep_lis_client.py")
	out, err := exec.Command(py, script, s.url+"/ims/lis/v2p0?wsdl", ca.caFile, "dbild-user", "zeep-pass&<1>").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "zeep: all calls answered as expected") {
		t.Fatalf("zeep: %v\n%s\nserve:\n%s", err, out, s.stderr.String())
	}
	// The request log names the dialect.
	r := imsfeed(t, dir, "--config", filepath.Join(dir, "imsfeed.yaml"), "es", "log", "--tenant", "north")
	if !strings.Contains(r.stdout, "DIALECT") || !strings.Contains(r.stdout, "lis2") || !strings.Contains(r.stdout, "replaceMembership") {
		t.Fatalf("es log after the LIS 2.0 calls: %s %s", r.stdout, r.stderr)
	}
}

func outboxMails(t *testing.T, dir string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "outbox", "*.eml"))
	var all strings.Builder
	for _, f := range files {
		b, _ := os.ReadFile(f)
		all.Write(b)
	}
	return all.String()
}

// TestLiveRefusalAndAllowanceAreMailed: the first request the live safety filter refuses is
// mailed with the way to lift the limit; `es allow` is recorded and mailed; the request then
// applies.
func TestLiveRefusalAndAllowanceAreMailed(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "es-pass"), []byte("pw"), 0o600)
	cfg := filepath.Join(dir, "imsfeed.yaml")
	os.WriteFile(cfg, []byte(strings.Replace(liveConfig(dir, `http: {listen: "127.0.0.1:0"}`), "    es:", "    subscribers: [it@north.example.org]\n    es:", 1)), 0o644)
	s := startServe(t, dir)
	envelope := func(op, inner string) string {
		return `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><` + op + `Request xmlns="http://www.imsglobal.org/services/pms/xsd/imsPersonManMessSchema_v1p0">` +
			inner + `</` + op + `Request></s:Body></s:Envelope>`
	}
	send := func(body string) string {
		req, _ := http.NewRequest("POST", s.url+"/ims/es/v1p0", strings.NewReader(body))
		req.SetBasicAuth("dbild-user", "pw")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return string(b)
	}
	var pairs, ids strings.Builder
	for i := range 30 {
		fmt.Fprintf(&pairs, `<personIdPair><sourcedId><identifier>P%d</identifier></sourcedId><person><formatName>P %d</formatName></person></personIdPair>`, i, i)
		fmt.Fprintf(&ids, `<identifier>P%d</identifier>`, i)
	}
	if a := send(envelope("createPersons", "<personIdPairSet>"+pairs.String()+"</personIdPairSet>")); !strings.Contains(a, "<codeMajor>success") {
		t.Fatalf("createPersons: %s", a)
	}
	del := envelope("deletePersons", "<sourcedIdSet>"+ids.String()+"</sourcedIdSet>")
	if a := send(del); !strings.Contains(a, "deletelimit") {
		t.Fatalf("deletePersons of all 30: %s", a)
	}
	var mails string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if mails = outboxMails(t, dir); mails != "" {
			break
		}
	}
	// It says what the request would remove and the allowance that lets it through (30 of 30
	// persons: 24 counted is under min_changes 25).
	for _, want := range []string{"live request REFUSED", "The request would remove 30 persons, 0 groups and 0 memberships.",
		"No allowance was granted", "imsfeed es allow --tenant north --deletes 6 "} {
		if !strings.Contains(mails, want) {
			t.Fatalf("refusal mail does not say %q: %q", want, mails)
		}
	}
	r := imsfeed(t, dir, "--config", cfg, "es", "allow", "--tenant", "north", "--deletes", "30", "--by", "ops", "--reason", "school closed")
	if r.code != 0 || !strings.Contains(outboxMails(t, dir), "live deletes allowance of 30 by ops") {
		t.Fatalf("es allow: exit %d %s; mails %q", r.code, r.stderr, outboxMails(t, dir))
	}
	if a := send(del); !strings.Contains(a, "<codeMajor>success") {
		t.Fatalf("deletePersons after the allowance: %s", a)
	}
}

// A tenant's es.password_file is read when it is used: one tenant's missing file refuses that
// tenant's live requests (an ERROR naming the tenant and the file, never a password), not serve
// nor the other tenants'; a file that appears or changes counts without a restart.
func TestLivePasswordFilesAreReadWhenTheyChange(t *testing.T) {
	dir := t.TempDir()
	north, y8 := filepath.Join(dir, "es-north"), filepath.Join(dir, "es-y8")
	os.WriteFile(north, []byte("north-first\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "imsfeed.yaml"), []byte(fmt.Sprintf(`store: sqlite://%s/state.db
data_dir: %s
http: {listen: "127.0.0.1:0"}
tenants:
  - id: north
    es: {username: north-sis, password_file: %s}
  - id: y8
    es: {username: y8-sis, password_file: %s}
`, dir, dir, north, y8)), 0o644)
	s := startServe(t, dir)
	// A read of a person nobody created: unknownobject when authorised.
	read, _ := os.ReadFile("../../live/imses/testdata/imses1-itslearning/requests/002-readPerson.xml")
	body := regexp.MustCompile(`(?s)<[a-zA-Z0-9]*:?Security.*</[a-zA-Z0-9]*:?Security>`).ReplaceAllString(string(read), "")
	authorised := func(user, pw string) bool {
		t.Helper()
		req, _ := http.NewRequest("POST", s.url+"/ims/es/v1p0", strings.NewReader(body))
		req.SetBasicAuth(user, pw)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), "<codeMajor>") {
			t.Fatalf("no IMS status in the answer: %s", b)
		}
		return !strings.Contains(string(b), "unauthorizedrequest")
	}
	if !authorised("north-sis", "north-first") || authorised("y8-sis", "") || authorised("y8-sis", "y8-pw") {
		t.Fatalf("with y8's password file missing: north not authorised, or y8 authorised\n%s", s.stderr.String())
	}
	errLine := regexp.MustCompile(`level=ERROR .*tenant=y8 file=` + regexp.QuoteMeta(y8) + `.*no such file`)
	if !errLine.MatchString(s.stderr.String()) {
		t.Errorf("serve's log does not name y8's unreadable password file in an ERROR:\n%s", s.stderr.String())
	}
	// The file appears; north's changes: both count without a restart.
	os.WriteFile(y8, []byte("y8-pw\n"), 0o600)
	os.WriteFile(north, []byte("north-second\n"), 0o600)
	later := time.Now().Add(2 * time.Second) // a modification time that differs on any file system
	os.Chtimes(north, later, later)
	time.Sleep(1100 * time.Millisecond)
	if !authorised("y8-sis", "y8-pw") || !authorised("north-sis", "north-second") || authorised("north-sis", "north-first") {
		t.Fatalf("the written password files did not count:\n%s", s.stderr.String())
	}
	for _, pw := range []string{"north-first", "north-second", "y8-pw"} {
		if strings.Contains(s.stderr.String(), pw) {
			t.Fatalf("a password reached serve's log:\n%s", s.stderr.String())
		}
	}
}

// A password rotated to one of the same length with the file's modification time kept (a
// config tool that preserves it, or two writes within the file system's clock step) counts
// within the re-read interval, and the old password no longer: the file's content is compared,
// not its size and time.
func TestLivePasswordRotationKeepingSizeAndTimeCounts(t *testing.T) {
	dir := t.TempDir()
	north := filepath.Join(dir, "es-north")
	os.WriteFile(north, []byte("north-first\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "imsfeed.yaml"), []byte(fmt.Sprintf(`store: sqlite://%s/state.db
data_dir: %s
http: {listen: "127.0.0.1:0"}
tenants:
  - id: north
    es: {username: north-sis, password_file: %s}
`, dir, dir, north)), 0o600)
	s := startServe(t, dir)
	read, _ := os.ReadFile("../../live/imses/testdata/imses1-itslearning/requests/002-readPerson.xml")
	body := regexp.MustCompile(`(?s)<[a-zA-Z0-9]*:?Security.*</[a-zA-Z0-9]*:?Security>`).ReplaceAllString(string(read), "")
	authorised := func(pw string) bool {
		t.Helper()
		req, _ := http.NewRequest("POST", s.url+"/ims/es/v1p0", strings.NewReader(body))
		req.SetBasicAuth("north-sis", pw)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return !strings.Contains(string(b), "unauthorizedrequest")
	}
	if !authorised("north-first") {
		t.Fatalf("north's first password is refused:\n%s", s.stderr.String())
	}
	before, err := os.Stat(north)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(north, []byte("north-other\n"), 0o600)
	os.Chtimes(north, before.ModTime(), before.ModTime())
	if after, _ := os.Stat(north); after.Size() != before.Size() || !after.ModTime().Equal(before.ModTime()) {
		t.Fatalf("the rotated file differs in size or time: %d %v, was %d %v", after.Size(), after.ModTime(), before.Size(), before.ModTime())
	}
	time.Sleep(1100 * time.Millisecond) // serve looks at the files at most once a second
	if !authorised("north-other") || authorised("north-first") {
		t.Fatalf("the rotated password did not count, or the old one still does:\n%s", s.stderr.String())
	}
	if !strings.Contains(s.stderr.String(), "password file changed; the new password counts\" tenant=north") {
		t.Errorf("serve did not log the re-read:\n%s", s.stderr.String())
	}
	for _, pw := range []string{"north-first", "north-other"} {
		if strings.Contains(s.stderr.String(), pw) {
			t.Fatalf("a password reached serve's log:\n%s", s.stderr.String())
		}
	}
}

// A re-read password file changes only passwords: the slowdown of an address's failed attempts
// goes on across a re-read of that tenant's file or another's (a provider's routine rotation
// must not give a guesser a fresh start); the new password counts, the old one no longer.
func TestLivePasswordRereadKeepsTheSlowdown(t *testing.T) {
	dir := t.TempDir()
	north, y8 := filepath.Join(dir, "es-north"), filepath.Join(dir, "es-y8")
	os.WriteFile(north, []byte("north-first\n"), 0o600)
	os.WriteFile(y8, []byte("y8-first\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "imsfeed.yaml"), []byte(fmt.Sprintf(`store: sqlite://%s/state.db
data_dir: %s
http: {listen: "127.0.0.1:0"}
tenants:
  - id: north
    es: {username: north-sis, password_file: %s}
  - id: y8
    es: {username: y8-sis, password_file: %s}
`, dir, dir, north, y8)), 0o600)
	s := startServe(t, dir)
	read, _ := os.ReadFile("../../live/imses/testdata/imses1-itslearning/requests/002-readPerson.xml")
	body := regexp.MustCompile(`(?s)<[a-zA-Z0-9]*:?Security.*</[a-zA-Z0-9]*:?Security>`).ReplaceAllString(string(read), "")
	// try answers a request with user and pw: whether it was authorised and how long it took.
	try := func(user, pw string) (bool, time.Duration) {
		t.Helper()
		req, _ := http.NewRequest("POST", s.url+"/ims/es/v1p0", strings.NewReader(body))
		req.SetBasicAuth(user, pw)
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return !strings.Contains(string(b), "unauthorizedrequest"), time.Since(start)
	}
	rewrite := func(file, pw string) {
		os.WriteFile(file, []byte(pw+"\n"), 0o600)
		later := time.Now().Add(2 * time.Second) // a modification time that differs on any file system
		os.Chtimes(file, later, later)
		time.Sleep(1100 * time.Millisecond) // serve looks at the files at most once a second
	}
	// The fourth failure from one address waits 250 ms, each further one twice as long.
	for i := 1; i <= 4; i++ {
		if ok, took := try("north-sis", "guess"); ok || (i == 4 && took < 200*time.Millisecond) {
			t.Fatalf("failure %d: authorised %v, answered after %v", i, ok, took)
		}
	}
	rewrite(y8, "y8-second")
	if ok, took := try("north-sis", "guess"); ok || took < 400*time.Millisecond {
		t.Fatalf("the fifth failure, after y8's file was re-read: authorised %v, answered after %v (500 ms due)\n%s", ok, took, s.stderr.String())
	}
	rewrite(north, "north-second")
	if ok, took := try("north-sis", "north-first"); ok || took < 800*time.Millisecond {
		t.Fatalf("the old password after north's file was re-read: authorised %v, answered after %v (1 s due)\n%s", ok, took, s.stderr.String())
	}
	for _, tenant := range []string{"north", "y8"} {
		if !strings.Contains(s.stderr.String(), "password file changed; the new password counts\" tenant="+tenant) {
			t.Fatalf("serve did not re-read %s's password file:\n%s", tenant, s.stderr.String())
		}
	}
	if ok, _ := try("north-sis", "north-second"); !ok {
		t.Fatalf("north's new password is refused:\n%s", s.stderr.String())
	}
	if ok, _ := try("y8-sis", "y8-second"); !ok {
		t.Fatalf("y8's new password is refused:\n%s", s.stderr.String())
	}
}

// A request refused because its tenant's password file cannot be read says so in serve's log
// (the reason an operator reads), naming the tenant and the file: not "unknown username", which
// would send them after the SIS's username. The answer stays unauthorizedrequest.
func TestLiveRefusalNamesTheUnreadablePasswordFile(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{"north": filepath.Join(dir, "es-north"), "y8": filepath.Join(dir, "es-y8"),
		"z9": filepath.Join(dir, "es-z9"), "e5": filepath.Join(dir, "es-e5")}
	os.WriteFile(files["north"], []byte("north-pw\n"), 0o600)
	os.Mkdir(files["z9"], 0o700) // a folder where the file should be: read fails
	os.WriteFile(files["e5"], nil, 0o600)
	cfg := fmt.Sprintf("store: sqlite://%s/state.db\ndata_dir: %s\nhttp: {listen: \"127.0.0.1:0\"}\ntenants:\n", dir, dir)
	for _, id := range []string{"north", "y8", "z9", "e5"} {
		cfg += fmt.Sprintf("  - id: %s\n    es: {username: %s-sis, password_file: %s}\n", id, id, files[id])
	}
	os.WriteFile(filepath.Join(dir, "imsfeed.yaml"), []byte(cfg), 0o600)
	s := startServe(t, dir)
	read, _ := os.ReadFile("../../live/imses/testdata/imses1-itslearning/requests/002-readPerson.xml")
	body := regexp.MustCompile(`(?s)<[a-zA-Z0-9]*:?Security.*</[a-zA-Z0-9]*:?Security>`).ReplaceAllString(string(read), "")
	for user, want := range map[string]string{
		"y8-sis":     "tenant y8's password file " + files["y8"] + " could not be read: no such file or directory",
		"z9-sis":     "tenant z9's password file " + files["z9"] + " could not be read: is a directory",
		"e5-sis":     "tenant e5: es.password_file " + files["e5"] + " is empty",
		"nobody-sis": "unknown username",
		"north-sis":  "wrong password",
	} {
		req, _ := http.NewRequest("POST", s.url+"/ims/es/v1p0", strings.NewReader(body))
		req.SetBasicAuth(user, "some-pw")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), "unauthorizedrequest") || strings.Contains(string(b), "es-") {
			t.Fatalf("%s: the answer is not the plain unauthorizedrequest: %s", user, b)
		}
		var line string
		for deadline := time.Now().Add(5 * time.Second); line == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			for _, l := range strings.Split(s.stderr.String(), "\n") {
				if strings.Contains(l, `msg="live request rejected"`) && strings.Contains(l, "username="+user+" ") {
					line = l
				}
			}
		}
		if !strings.Contains(line, want) {
			t.Errorf("serve's log line for %s does not say %q:\n%s", user, want, line)
		}
	}
	if strings.Contains(s.stderr.String(), "north-pw") {
		t.Fatalf("a password reached serve's log:\n%s", s.stderr.String())
	}
}
