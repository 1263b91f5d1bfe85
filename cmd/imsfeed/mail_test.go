package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"
)

// inbox is a real SMTP server's received mail.
type inbox struct {
	mu   sync.Mutex
	mail []string
}

func (b *inbox) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{b: b}, nil }

type session struct{ b *inbox }

func (s *session) Mail(string, *smtp.MailOptions) error { return nil }
func (s *session) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	s.b.mu.Lock()
	s.b.mail = append(s.b.mail, string(data))
	s.b.mu.Unlock()
	return err
}
func (s *session) Reset()        {}
func (s *session) Logout() error { return nil }

// SMTP down: the run's result stands, the mail waits, `runs` says so; the next invocation sends
// it, exactly once, and the run record says it was sent.
func TestMailQueuedWhileSMTPIsDownArrivesOnceLater(t *testing.T) {
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().(*net.TCPAddr)
	l.Close() // the server is down for now
	cfg := fmt.Sprintf(`store: sqlite://%s/state.db
data_dir: %s
smtp: {host: 127.0.0.1, port: %d, tls: none, from: "imsfeed <imsfeed@example.org>", timeout: 2s}
tenants:
  - id: north
    subscribers: [it@north.example.org]
`, dir, dir, addr.Port)
	os.WriteFile(filepath.Join(dir, "imsfeed.yaml"), []byte(cfg), 0o644)
	n1 := writeDemo(t, dir, "night1.xml")

	r := imsfeed(t, dir, "import", "--tenant", "north", "--json", n1)
	var run struct {
		Status, Mail string
		ID           int64 `json:"run"`
	}
	json.Unmarshal([]byte(r.stdout), &run)
	if r.code != 0 || run.Status != "completed" || run.Mail != "queued" {
		t.Fatalf("import with SMTP down: exit %d, %+v\n%s", r.code, run, r.stderr)
	}
	if r := imsfeed(t, dir, "runs"); !strings.Contains(r.stdout, "[mail queued") {
		t.Fatalf("runs does not show the queued mail:\n%s", r.stdout)
	}

	l, err = net.Listen("tcp", addr.String())
	if err != nil {
		t.Skipf("port %d was taken meanwhile: %v", addr.Port, err)
	}
	box := &inbox{}
	srv := smtp.NewServer(box)
	srv.Domain = "localhost"
	go srv.Serve(l)
	defer srv.Close()

	imsfeed(t, dir, "runs") // any invocation flushes the queue
	imsfeed(t, dir, "runs")
	box.mu.Lock()
	got := append([]string(nil), box.mail...)
	box.mu.Unlock()
	if len(got) != 1 || !strings.Contains(got[0], fmt.Sprintf("X-Imsfeed-Run: %d", run.ID)) {
		t.Fatalf("want the queued mail delivered once, got %d mails", len(got))
	}
	r = imsfeed(t, dir, "show", fmt.Sprint(run.ID), "--json")
	if !strings.Contains(r.stdout, `"mail": "sent"`) {
		t.Errorf("the run record still does not say the mail was sent:\n%s", r.stdout)
	}
}

// refusingSession takes every mail's data and refuses it for good.
type refusingSession struct{ session }

func (s *refusingSession) Data(r io.Reader) error {
	s.session.Data(r)
	return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "rejected by policy"}
}

type refusingInbox struct{ inbox }

func (b *refusingInbox) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &refusingSession{session{b: &b.inbox}}, nil
}

// A mail the server refuses for good (5xx) is not retried forever: the run says why it is
// queued, and after max_tries refusals that it went to the dead-letter folder.
func TestRefusedMailIsDeadLetteredAndRunsSaysWhy(t *testing.T) {
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	box := &refusingInbox{}
	srv := smtp.NewServer(box)
	srv.Domain = "localhost"
	go srv.Serve(l)
	defer srv.Close()
	cfg := fmt.Sprintf(`store: sqlite://%s/state.db
data_dir: %s
smtp: {host: 127.0.0.1, port: %d, tls: none, from: "imsfeed <imsfeed@example.org>", timeout: 2s, max_tries: 2}
tenants:
  - id: north
    subscribers: [it@north.example.org]
`, dir, dir, l.Addr().(*net.TCPAddr).Port)
	os.WriteFile(filepath.Join(dir, "imsfeed.yaml"), []byte(cfg), 0o644)
	n1 := writeDemo(t, dir, "night1.xml")

	r := imsfeed(t, dir, "import", "--tenant", "north", "--json", n1)
	var run struct {
		Status, Mail string
		MailError    string `json:"mail_error"`
		ID           int64  `json:"run"`
	}
	json.Unmarshal([]byte(r.stdout), &run)
	if r.code != 0 || run.Status != "completed" || run.Mail != "queued" || !strings.Contains(run.MailError, "554") {
		t.Fatalf("import: exit %d, %+v; want completed, mail queued with the server's 554\n%s", r.code, run, r.stderr)
	}
	r = imsfeed(t, dir, "runs") // flushes: the second refusal
	if !strings.Contains(r.stderr, "dead-lettered") {
		t.Errorf("the dead letter is not logged:\n%s", r.stderr)
	}
	r = imsfeed(t, dir, "runs")
	if !strings.Contains(r.stdout, "[mail dead-letter: refused 2 times") || !strings.Contains(r.stdout, "rejected by policy") {
		t.Errorf("runs does not say the mail was dead-lettered and why:\n%s", r.stdout)
	}
	box.mu.Lock()
	tries := len(box.mail)
	box.mu.Unlock()
	if tries != 2 {
		t.Errorf("the server was offered the mail %d times, want max_tries (2)", tries)
	}
	dead, _ := filepath.Glob(filepath.Join(dir, "outbox", "dead", "*.eml"))
	if len(dead) != 1 {
		t.Errorf("dead-letter folder holds %v", dead)
	}
	r = imsfeed(t, dir, "show", fmt.Sprint(run.ID), "--json")
	if !strings.Contains(r.stdout, `"mail": "dead-letter"`) {
		t.Errorf("show does not say dead-letter:\n%s", r.stdout)
	}
}
