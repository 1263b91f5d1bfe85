package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/imsfeed/imsfeed/live"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/store/sqlite"
)

// mailText is a received mail's subject and decoded plain-text part.
func mailText(t *testing.T, raw string) (subject, text string) {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	subject, _ = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	var find func(ctype string, enc string, body io.Reader) string
	find = func(ctype, enc string, body io.Reader) string {
		mt, params, _ := mime.ParseMediaType(ctype)
		if strings.HasPrefix(mt, "multipart/") {
			r := multipart.NewReader(body, params["boundary"])
			for {
				p, err := r.NextRawPart()
				if err != nil {
					return ""
				}
				if s := find(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p); s != "" {
					return s
				}
			}
		}
		if mt != "text/plain" {
			return ""
		}
		if strings.EqualFold(enc, "quoted-printable") {
			body = quotedprintable.NewReader(body)
		}
		b, _ := io.ReadAll(body)
		return string(b)
	}
	return subject, find(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
}

// Issue 10: each status mail of a tenant with a live channel reports the live activity since
// the previous mail (requests by operation and outcome, what they created, updated and
// deleted, allowances); a live-only tenant is not fetched by `run --all` but mailed its
// digest of the same. The mails go through a real SMTP server on 127.0.0.1.
func TestStatusMailReportsLiveActivityAndLiveOnlyTenantGetsDigest(t *testing.T) {
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	box := &inbox{}
	srv := smtp.NewServer(box)
	srv.Domain = "localhost"
	go srv.Serve(l)
	defer srv.Close()
	sis := filepath.Join(dir, "sis")
	os.MkdirAll(sis, 0o755)
	writeDemo(t, sis, "night1.xml")
	os.WriteFile(filepath.Join(dir, "es-pass"), []byte("secret\n"), 0o600)
	cfg := fmt.Sprintf(`store: sqlite://%[1]s/state.db
data_dir: %[1]s
smtp: {host: 127.0.0.1, port: %[2]d, tls: none, from: "imsfeed <imsfeed@example.org>", timeout: 5s}
tenants:
  - id: north
    subscribers: [it@north.example.org]
    mode: event
    safety: {persons: {inserts: off, updates: off, deletes: off}}
    source: {url: "file://%[3]s", settle: -1s}
    es: {username: north-sis, password_file: %[1]s/es-pass}
  - id: east
    subscribers: [it@east.example.org]
    es: {username: east-sis, password_file: %[1]s/es-pass}
`, dir, l.Addr().(*net.TCPAddr).Port, sis)
	os.WriteFile(filepath.Join(dir, "imsfeed.yaml"), []byte(cfg), 0o644)
	// Bring the store up to date (migrations) before opening it in this process.
	if r := imsfeed(t, dir, "status", "--tenant", "east"); r.code != 0 {
		t.Fatalf("status: %d %s", r.code, r.stderr)
	}

	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	svc := &live.Service{Store: st}
	person := func(key, name string) *record.Person {
		p := &record.Person{Key: key, Name: name}
		p.ComputeHash()
		return p
	}
	for _, tenant := range []string{"north", "east"} {
		lt := &live.Tenant{ID: tenant}
		do := func(op string, a live.Action, it live.Item) {
			res := svc.Do(ctx, lt, &live.Request{Dialect: "imses1", Operation: op, Type: record.Persons, Action: a, Items: []live.Item{it}})
			if !res.First().OK() && op != "readPerson" {
				t.Fatalf("%s %s: %+v", tenant, op, res.First())
			}
		}
		do("createPerson", live.Create, live.Item{Key: "L1", Person: person("L1", "Ada Lovelace")})
		do("createPerson", live.Create, live.Item{Key: "L2", Person: person("L2", "Grace Hopper")})
		do("replacePerson", live.Replace, live.Item{Key: "L1", Person: person("L1", "Augusta Lovelace")})
		do("deletePerson", live.Delete, live.Item{Key: "L2"})
		do("readPerson", live.Read, live.Item{Key: "nobody"}) // unknownobject
	}
	st.Close()
	if r := imsfeed(t, dir, "es", "allow", "--tenant", "east", "--deletes", "5", "--by", "ops", "--reason", "school merger"); r.code != 0 {
		t.Fatalf("es allow: %d %s", r.code, r.stderr)
	}

	received := func() map[string]string { // X-Imsfeed-Status → text, of the mails since the last call
		box.mu.Lock()
		defer box.mu.Unlock()
		out := map[string]string{}
		for _, raw := range box.mail {
			subject, text := mailText(t, raw)
			m, _ := mail.ReadMessage(strings.NewReader(raw))
			out[m.Header.Get("X-Imsfeed-Tenant")+"/"+m.Header.Get("X-Imsfeed-Status")] = subject + "\n" + text
		}
		box.mail = nil
		return out
	}
	received() // the allowance's notice

	r := imsfeed(t, dir, "run", "--all", "--json")
	// Every tenant has a run-shaped entry: east, fed only live, is skipped with its digest mailed.
	var list []struct {
		Run                    int64
		Tenant, Status, Reason string
		LiveDigest             string `json:"live_digest"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || r.code != 0 || len(list) != 2 {
		t.Fatalf("run --all: exit %d, want north's run and east's digest: %s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, e := range list {
		switch {
		case e.Tenant == "north" && e.Run > 0 && e.LiveDigest == "":
		case e.Tenant == "east" && e.Run == 0 && e.Status == "skipped" && e.LiveDigest == "mailed" && strings.Contains(e.Reason, "fed only live"):
		default:
			t.Errorf("run --all entry %+v", e)
		}
	}
	got := received()
	north := got["north/completed"]
	for _, want := range []string{"Live channel (IMS ES 1.0), every request so far:", "5 requests, 1 failed.",
		"persons            2        1        1", "createPerson: 2 success", "readPerson: 1 failure (unknownobject)", "persons deleted: 1 trashed"} {
		if !strings.Contains(north, want) {
			t.Errorf("north's status mail lacks %q:\n%s", want, north)
		}
	}
	east := got["east/live-digest"]
	for _, want := range []string{"[imsfeed] east: live digest (5 requests, +2 ~1 -1 persons)", "ops allowed 5 more removals: school merger",
		"deletePerson: 1 success"} {
		if !strings.Contains(east, want) {
			t.Errorf("east's digest lacks %q:\n%s", want, east)
		}
	}
	if len(got) != 2 {
		t.Errorf("want north's status mail and east's digest, got %d mails: %v", len(got), got)
	}

	// The next mails report only what came after: nothing.
	if r := imsfeed(t, dir, "run", "--all"); r.code != 0 || !strings.Contains(r.stdout, "tenant east: fed only live (no nightly file): the live digest was mailed") {
		t.Fatalf("second run --all: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	got = received()
	if s := got["north/skipped"]; !strings.Contains(s, "No live requests.") || !strings.Contains(s, "Live channel since ") {
		t.Errorf("north's second mail should report no live requests since the first:\n%s", s)
	}
	if s := got["east/live-digest"]; !strings.Contains(s, "live digest (0 requests)") || strings.Contains(s, "school merger") {
		t.Errorf("east's second digest should report nothing new:\n%s", s)
	}
}
