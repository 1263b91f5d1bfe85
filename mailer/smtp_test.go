package mailer

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/runs"
)

// syncBuffer collects slog output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newLogger() (*slog.Logger, *syncBuffer) {
	var buf syncBuffer
	return slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), &buf
}

func smtpConfig(port int) *SMTPConfig {
	return &SMTPConfig{
		Host: "127.0.0.1", Port: port, TLS: TLSNone, From: "imsfeed <imsfeed@example.org>",
		Operators: []string{"ops@example.org"}, Timeout: 5 * time.Second,
	}
}

// checkReceived takes a received mail apart and checks it against the message sent.
func checkReceived(t *testing.T, got received, msg Message) parsedMail {
	t.Helper()
	p := parseMail(t, got.Data)
	want, err := Render(msg)
	if err != nil {
		t.Fatal(err)
	}
	if p.Subject != want.Subject {
		t.Errorf("subject %q, want %q", p.Subject, want.Subject)
	}
	if got.From != "imsfeed@example.org" {
		t.Errorf("envelope from %q", got.From)
	}
	if strings.Join(got.To, ",") != "it@northside.example.org,ops@example.org" {
		t.Errorf("envelope recipients %q: want the subscriber and the operator", got.To)
	}
	for _, h := range []string{"Message-Id", "Date", "From", "To", "Cc"} {
		if p.Header.Get(h) == "" {
			t.Errorf("mail has no %s header", h)
		}
	}
	if _, err := p.Header.Date(); err != nil {
		t.Errorf("Date header: %v", err)
	}
	// Both parts carry the run's numbers.
	r := msg.Run
	for _, part := range []struct{ name, body string }{{"text", p.Text}, {"html", p.HTML}} {
		for _, want := range []string{r.File.Name, r.File.SHA256, "1,234,567 bytes", "12.3s", string(r.Status)} {
			if !strings.Contains(part.body, want) {
				t.Errorf("%s part lacks %q", part.name, want)
			}
		}
	}
	if p.Text != strings.ReplaceAll(want.Text, "\n", "\r\n") { // mail lines end in CRLF
		t.Errorf("text part differs from Render's:\n%s", p.Text)
	}
	tableRow := func(name string, c change.TypeCounts) string {
		s := name
		for _, n := range []int{c.Before, c.Inserted, c.Updated, c.Deleted, c.Restored, c.Archived, c.After} {
			s += fmt.Sprintf(" %d", n)
		}
		return s
	}
	if r.Status == runs.Failed {
		if strings.Contains(p.Text, "before") {
			t.Error("failure mail shows a counts table: nothing was changed")
		}
		return p
	}
	for name, c := range map[string]change.TypeCounts{"persons": r.Counts.Persons, "groups": r.Counts.Groups, "memberships": r.Counts.Memberships} {
		if !strings.Contains(flat(p.Text), tableRow(name, c)) {
			t.Errorf("text table lacks the %s row %+v", name, c)
		}
		if !strings.Contains(p.HTML, fmt.Sprintf("<td style=\"padding:2px 8px\">%d</td><td style=\"padding:2px 8px\">%d</td>", c.Before, c.Inserted)) {
			t.Errorf("HTML table lacks the %s numbers %+v", name, c)
		}
	}
	if msg.Plan == nil && p.CSVName != "" {
		t.Errorf("mail without a plan has an attachment %q", p.CSVName)
	}
	if msg.Plan != nil {
		if p.CSVName != fmt.Sprintf("changes-northside-run%d.csv", r.ID) {
			t.Errorf("attachment name %q", p.CSVName)
		}
		rows, err := csv.NewReader(bytes.NewReader(p.CSV)).ReadAll()
		if err != nil {
			t.Fatalf("attachment: %v", err)
		}
		checkCSV(t, rows, r.Counts)
	}
	return p
}

func TestSendPlainLoopback(t *testing.T) {
	t.Parallel()
	srv := startServer(t, serverOpts{})
	m := New(smtpConfig(srv.Port), t.TempDir(), nil)
	msg := kinds()["completed"]
	res, err := m.Send(context.Background(), msg)
	if err != nil || res.Status != StatusSent || res.Err != nil {
		t.Fatalf("Send = %+v, %v; want sent", res, err)
	}
	got := srv.mails()
	if len(got) != 1 {
		t.Fatalf("server received %d mails, want 1", len(got))
	}
	p := checkReceived(t, got[0], msg)
	if id := p.Header.Get("Message-Id"); id != res.MessageID {
		t.Errorf("Message-ID %q, Result says %q", id, res.MessageID)
	}
}

// Every kind of run is mailed and arrives whole.
func TestSendEveryKind(t *testing.T) {
	t.Parallel()
	srv := startServer(t, serverOpts{})
	m := New(smtpConfig(srv.Port), t.TempDir(), nil)
	ids := map[string]bool{}
	for name, msg := range kinds() {
		res, err := m.Send(context.Background(), msg)
		if err != nil || res.Status != StatusSent {
			t.Fatalf("%s: Send = %+v, %v", name, res, err)
		}
		if ids[res.MessageID] {
			t.Errorf("Message-ID %s used twice", res.MessageID)
		}
		ids[res.MessageID] = true
	}
	got := srv.mails()
	if len(got) != len(kinds()) {
		t.Fatalf("server received %d mails, want %d", len(got), len(kinds()))
	}
	for _, g := range got {
		p := parseMail(t, g.Data)
		var name string
		for n, msg := range kinds() {
			if r, _ := Render(msg); r.Subject == p.Subject {
				name = n
			}
		}
		if name == "" {
			t.Errorf("received a mail with unexpected subject %q", p.Subject)
			continue
		}
		checkReceived(t, g, kinds()[name])
	}
}

func TestSendStartTLS(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	srv := startServer(t, serverOpts{tls: ca.serverTLS(t, "127.0.0.1"), user: "imsfeed", pass: "s3cr3t-Pa55"})
	cfg := smtpConfig(srv.Port)
	cfg.TLS, cfg.CAFile = TLSStartTLS, ca.pemFile
	cfg.Username, cfg.Password = "imsfeed", "s3cr3t-Pa55"
	m := New(cfg, t.TempDir(), nil)
	res, err := m.Send(context.Background(), kinds()["held"])
	if err != nil || res.Status != StatusSent {
		t.Fatalf("Send = %+v, %v; want sent", res, err)
	}
	got := srv.mails()
	if len(got) != 1 || !got[0].TLS || got[0].User != "imsfeed" {
		t.Fatalf("server received %+v; want one mail over TLS from user imsfeed", got)
	}
	p := checkReceived(t, got[0], kinds()["held"])
	if !strings.Contains(p.Text, `imsfeed approve 17 --by NAME --reason "why"`) {
		t.Error("held mail lacks the approve command")
	}
}

func TestSendImplicitTLS(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	srv := startServer(t, serverOpts{tls: ca.serverTLS(t, "localhost"), implicit: true})
	cfg := smtpConfig(srv.Port)
	cfg.Host, cfg.TLS, cfg.CAFile = "localhost", TLSImplicit, ca.pemFile
	res, err := New(cfg, t.TempDir(), nil).Send(context.Background(), kinds()["failed"])
	if err != nil || res.Status != StatusSent {
		t.Fatalf("Send = %+v, %v; want sent", res, err)
	}
	got := srv.mails()
	if len(got) != 1 || !got[0].TLS {
		t.Fatalf("server received %d mails (TLS %v), want 1 over TLS", len(got), len(got) == 1 && got[0].TLS)
	}
	p := checkReceived(t, got[0], kinds()["failed"])
	if !strings.Contains(p.Text, "northside-2026-03-02.xml:3:9: record P0042:") {
		t.Errorf("failure mail lacks file:line:column and record:\n%s", p.Text)
	}
}

// AUTH PLAIN reaches the server with the right credentials, and the password shows up in no
// log line, error or queued file, also when the server refuses it.
func TestAuthPasswordNeverLeaks(t *testing.T) {
	t.Parallel()
	const pass = "Tr0ub4dor&3-horse"
	ca := newCA(t)
	srv := startServer(t, serverOpts{tls: ca.serverTLS(t, "127.0.0.1"), user: "imsfeed", pass: pass})
	logger, logs := newLogger()
	out := t.TempDir()

	cfg := smtpConfig(srv.Port)
	cfg.TLS, cfg.CAFile, cfg.Username, cfg.Password = TLSStartTLS, ca.pemFile, "imsfeed", pass
	res, err := New(cfg, out, logger).Send(context.Background(), kinds()["completed"])
	if err != nil || res.Status != StatusSent {
		t.Fatalf("Send = %+v, %v; want sent", res, err)
	}
	if tries := srv.authTries(); len(tries) != 1 || tries[0] != "imsfeed:"+pass {
		t.Errorf("server saw AUTH %q", tries)
	}

	bad := *cfg
	bad.Password = pass + "-wrong"
	res, err = New(&bad, out, logger).Send(context.Background(), kinds()["completed"])
	if err != nil || res.Status != StatusQueued || res.Err == nil {
		t.Fatalf("Send with a wrong password = %+v, %v; want queued with the reason", res, err)
	}
	if !strings.Contains(res.Err.Error(), "535") {
		t.Errorf("error %q does not say the server refused the login", res.Err)
	}
	_, flushErr := New(&bad, out, logger).Flush(context.Background())
	if flushErr == nil {
		t.Error("Flush with a wrong password reported no error")
	}
	slog.New(slog.NewTextHandler(logs, nil)).Info("config", "smtp", bad, "password", bad.Password)

	leaks := []string{logs.String(), res.Err.Error(), fmt.Sprint(flushErr), fmt.Sprintf("%v %+v %#v", bad, bad, bad)}
	files, _ := filepath.Glob(filepath.Join(out, "*", "*"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		leaks = append(leaks, string(b))
	}
	for _, s := range leaks {
		if strings.Contains(s, pass) {
			t.Errorf("the password appears in %q", s)
		}
	}
	if !strings.Contains(logs.String(), "status mail queued") {
		t.Errorf("the failure is not logged:\n%s", logs)
	}
}

func TestWrongCertificateRefused(t *testing.T) {
	t.Parallel()
	trusted, other := newCA(t), newCA(t)
	cases := []struct {
		name     string
		tls      *SMTPConfig
		srv      serverOpts
		wantText string
	}{
		{"untrusted CA, STARTTLS", nil, serverOpts{tls: other.serverTLS(t, "127.0.0.1")}, "unknown authority"},
		{"wrong host name, STARTTLS", nil, serverOpts{tls: trusted.serverTLS(t, "mail.example.org")}, "127.0.0.1"},
		{"untrusted CA, implicit", nil, serverOpts{tls: other.serverTLS(t, "127.0.0.1"), implicit: true}, "unknown authority"},
		{"wrong host name, implicit", nil, serverOpts{tls: trusted.serverTLS(t, "mail.example.org"), implicit: true}, "127.0.0.1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, c.srv)
			cfg := smtpConfig(srv.Port)
			cfg.TLS, cfg.CAFile = TLSStartTLS, trusted.pemFile
			if c.srv.implicit {
				cfg.TLS = TLSImplicit
			}
			out := t.TempDir()
			res, err := New(cfg, out, nil).Send(context.Background(), kinds()["completed"])
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != StatusQueued || res.Err == nil || !strings.Contains(res.Err.Error(), "certificate") || !strings.Contains(res.Err.Error(), c.wantText) {
				t.Errorf("Send = %+v; want queued with a certificate error naming %q", res, c.wantText)
			}
			if n := len(srv.mails()); n != 0 {
				t.Errorf("server received %d mails over a connection with a wrong certificate", n)
			}
			if _, err := os.Stat(res.Path); err != nil {
				t.Errorf("queued mail: %v", err)
			}
		})
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// SMTP down: the mail waits in the queue; the server comes up; Flush delivers it exactly once.
func TestDownThenUp(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	logger, logs := newLogger()
	out := t.TempDir()
	m := New(smtpConfig(port), out, logger)
	held, completed := kinds()["held"], kinds()["completed"]

	res1, err := m.Send(context.Background(), held)
	if err != nil || res1.Status != StatusQueued || res1.Err == nil {
		t.Fatalf("Send with the server down = %+v, %v; want queued", res1, err)
	}
	if !strings.Contains(res1.Err.Error(), "127.0.0.1:"+strconv.Itoa(port)) {
		t.Errorf("error %q does not name the server", res1.Err)
	}
	res2, err := m.Send(context.Background(), completed)
	if err != nil || res2.Status != StatusQueued {
		t.Fatalf("second Send = %+v, %v; want queued", res2, err)
	}
	if filepath.Dir(res1.Path) != filepath.Join(out, "queue") || res1.Path == res2.Path {
		t.Errorf("queued at %s and %s; want two files in %s", res1.Path, res2.Path, filepath.Join(out, "queue"))
	}
	if n, err := m.Flush(context.Background()); n != 0 || err == nil {
		t.Errorf("Flush with the server still down = %d, %v; want 0 and an error", n, err)
	}
	if !strings.Contains(logs.String(), "status mail queued") {
		t.Errorf("queueing not logged:\n%s", logs)
	}

	srv := startServer(t, serverOpts{addr: "127.0.0.1:" + strconv.Itoa(port)})
	n, err := m.Flush(context.Background())
	if n != 2 || err != nil {
		t.Fatalf("Flush = %d, %v; want 2 sent", n, err)
	}
	if n, err := m.Flush(context.Background()); n != 0 || err != nil {
		t.Errorf("second Flush = %d, %v; want nothing left", n, err)
	}
	got := srv.mails()
	if len(got) != 2 {
		t.Fatalf("server received %d mails, want each queued mail once", len(got))
	}
	seen := map[string]bool{}
	for _, g := range got {
		p := parseMail(t, g.Data)
		seen[p.Header.Get("Message-Id")] = true
		if p.Subject == mustRender(t, held).Subject {
			checkReceived(t, g, held)
		} else {
			checkReceived(t, g, completed)
		}
	}
	if !seen[res1.MessageID] || !seen[res2.MessageID] {
		t.Errorf("received Message-IDs %v, want %s and %s", seen, res1.MessageID, res2.MessageID)
	}
	if left, _ := os.ReadDir(filepath.Join(out, "queue")); len(left) != 0 {
		t.Errorf("queue still holds %d files", len(left))
	}
}

// Two processes flushing one outbox at once send each mail once.
func TestConcurrentFlushSendsOnce(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	out := t.TempDir()
	m := New(smtpConfig(port), out, nil)
	const queued = 6
	for i := 0; i < queued; i++ {
		msg := kinds()["completed"]
		msg.Run.ID = int64(100 + i)
		if res, err := m.Send(context.Background(), msg); err != nil || res.Status != StatusQueued {
			t.Fatalf("Send = %+v, %v", res, err)
		}
	}
	srv := startServer(t, serverOpts{addr: "127.0.0.1:" + strconv.Itoa(port)})
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := New(smtpConfig(port), out, nil).Flush(context.Background())
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			total += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	if total != queued || len(srv.mails()) != queued {
		t.Errorf("flushes sent %d, server received %d; want %d each", total, len(srv.mails()), queued)
	}
}

func TestOutboxWithoutSMTP(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	m := New(nil, out, nil)
	m.now = func() time.Time { return t0 }
	held, approved := kinds()["held"], kinds()["approved"] // same run, same second
	r1, err := m.Send(context.Background(), held)
	if err != nil || r1.Status != StatusOutbox {
		t.Fatalf("Send = %+v, %v; want outbox", r1, err)
	}
	if want := filepath.Join(out, "20260302T020000Z-northside-run17.eml"); r1.Path != want {
		t.Errorf("outbox file %s, want %s", r1.Path, want)
	}
	r2, err := m.Send(context.Background(), approved)
	if err != nil || r2.Path == r1.Path {
		t.Fatalf("second mail of run 17 = %+v, %v; want a file of its own", r2, err)
	}
	for path, msg := range map[string]Message{r1.Path: held, r2.Path: approved} {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		p := parseMail(t, raw)
		if p.Subject != mustRender(t, msg).Subject || p.Header.Get("Message-Id") == "" || p.CSVName == "" {
			t.Errorf("%s: subject %q, Message-ID %q, attachment %q", path, p.Subject, p.Header.Get("Message-Id"), p.CSVName)
		}
	}
	if n, err := m.Flush(context.Background()); n != 0 || err != nil {
		t.Errorf("Flush without SMTP = %d, %v", n, err)
	}
}

func TestCancelledContextQueues(t *testing.T) {
	t.Parallel()
	srv := startServer(t, serverOpts{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := New(smtpConfig(srv.Port), t.TempDir(), nil).Send(ctx, kinds()["completed"])
	if err != nil || res.Status != StatusQueued || !errors.Is(res.Err, context.Canceled) {
		t.Errorf("Send with a cancelled context = %+v, %v; want queued", res, err)
	}
}

func mustRender(t *testing.T, m Message) *Rendered {
	t.Helper()
	r, err := Render(m)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
