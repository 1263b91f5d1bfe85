package importer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/imsfeed/imsfeed/archive"
	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/importer"
	"github.com/imsfeed/imsfeed/mailer"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/samples/feedgen"
	"github.com/imsfeed/imsfeed/store"
)

// smtpInbox is a real SMTP server on 127.0.0.1 keeping the mails it receives.
type smtpInbox struct {
	mu    sync.Mutex
	mails [][]byte
}

func (b *smtpInbox) NewSession(*smtp.Conn) (smtp.Session, error) { return &inboxSession{b}, nil }

type inboxSession struct{ b *smtpInbox }

func (s *inboxSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *inboxSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *inboxSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	s.b.mu.Lock()
	s.b.mails = append(s.b.mails, data)
	s.b.mu.Unlock()
	return err
}
func (s *inboxSession) Reset()        {}
func (s *inboxSession) Logout() error { return nil }

func startSMTP(t *testing.T) (*smtpInbox, int) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	box := &smtpInbox{}
	srv := smtp.NewServer(box)
	srv.Domain = "localhost"
	go srv.Serve(l) //nolint:errcheck // ends with Close
	t.Cleanup(func() { srv.Close() })
	return box, l.Addr().(*net.TCPAddr).Port
}

// textPart returns the decoded text/plain part of a received mail.
func textPart(t *testing.T, raw []byte) string {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	var walk func(ct string, body io.Reader) string
	walk = func(ct string, body io.Reader) string {
		mt, params, err := mime.ParseMediaType(ct)
		if err != nil {
			t.Fatal(err)
		}
		if mt == "text/plain" {
			b, _ := io.ReadAll(body)
			return string(b)
		}
		if !strings.HasPrefix(mt, "multipart/") {
			return ""
		}
		r := multipart.NewReader(body, params["boundary"])
		for {
			p, err := r.NextPart() // decodes quoted-printable
			if err != nil {
				return ""
			}
			if s := walk(p.Header.Get("Content-Type"), p); s != "" {
				return s
			}
		}
	}
	return walk(m.Header.Get("Content-Type"), m.Body)
}

// TestHeldMailSaysWhereTheRemovalsComeFromAndLinksTheConsole: the held run's status mail,
// received by a real SMTP server, lists the groups losing most (archive.Removals, as the
// console does) and links the run's page in the console at http.public_url.
func TestHeldMailSaysWhereTheRemovalsComeFromAndLinksTheConsole(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		box, port := startSMTP(t)
		e := newEnv(t, open, func(tn *config.Tenant) { tn.Subscribers = []string{"it@north.example.org"} })
		e.cfg.HTTP = &config.HTTP{PublicURL: "https://imsfeed.example.org/ops/"}
		e.im = importer.New(importer.Params{Config: e.cfg, Store: e.st, Mailer: mailer.New(&mailer.SMTPConfig{
			Host: "127.0.0.1", Port: port, TLS: "none", From: "imsfeed <imsfeed@example.org>", Timeout: 5 * time.Second}, e.cfg.Outbox, nil)})
		e.imp(e.file("n1.xml", small(feedgen.Options{})))
		before, err := e.st.LoadState(context.Background(), e.tenant.ID)
		if err != nil {
			t.Fatal(err)
		}
		held := e.imp(e.file("n2.xml", small(feedgen.Options{DropPercent: 30})))
		wantStatus(t, held, runs.Held)
		data, err := e.im.PlanBytes(context.Background(), held.ID)
		if err != nil {
			t.Fatal(err)
		}
		var plan change.Plan
		if err := json.Unmarshal(data, &plan); err != nil {
			t.Fatal(err)
		}
		removals := archive.Removals(&plan, before)
		if len(removals) < 11 {
			t.Fatalf("the broken night removes pupils from %d groups; the test wants more than the mail lists", len(removals))
		}
		box.mu.Lock()
		mails := box.mails
		box.mu.Unlock()
		if len(mails) != 2 || held.Mail != mailer.StatusSent {
			t.Fatalf("%d mails received, held run's mail %q; want 2, sent", len(mails), held.Mail)
		}
		text := strings.Join(strings.Fields(textPart(t, mails[1])), " ") // unwrapped
		want := []string{
			"Where the removals come from (largest first):",
			"- " + removals[0].String() + " - " + removals[1].String(),
			fmt.Sprintf("... and %d more (from %d groups), none losing more", len(removals)-10, groupsIn(removals[10:])),
			fmt.Sprintf("decide in the console: https://imsfeed.example.org/ops/runs/%d", held.ID),
		}
		for _, w := range want {
			if !strings.Contains(text, w) {
				t.Errorf("the held mail lacks %q:\n%s", w, text)
			}
		}
		if first := strings.Join(strings.Fields(textPart(t, mails[0])), " "); strings.Contains(first, "Where the removals") || strings.Contains(first, "console") {
			t.Errorf("the first night's mail (nothing removed, not held):\n%s", first)
		}
	})
}

// Issue 12: the mails of a decision (reject, approve: from the command line or the console,
// the same importer functions) say again where the held plan's removals come from, counted
// against the state the plan was made from, and link the run's page in the console; an undo's
// mail links its run's page too. Read as IT staff read them: from a real SMTP server.
func TestDecisionMailsSayWhereTheRemovalsComeFromAndLinkTheConsole(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		box, port := startSMTP(t)
		e := newEnv(t, open, func(tn *config.Tenant) { tn.Subscribers = []string{"it@north.example.org"} })
		e.cfg.HTTP = &config.HTTP{PublicURL: "https://imsfeed.example.org/ops/"}
		e.im = importer.New(importer.Params{Config: e.cfg, Store: e.st, Mailer: mailer.New(&mailer.SMTPConfig{
			Host: "127.0.0.1", Port: port, TLS: "none", From: "imsfeed <imsfeed@example.org>", Timeout: 5 * time.Second}, e.cfg.Outbox, nil)})
		e.imp(e.file("n1.xml", small(feedgen.Options{})))
		last := func() string {
			box.mu.Lock()
			defer box.mu.Unlock()
			return strings.Join(strings.Fields(textPart(t, box.mails[len(box.mails)-1])), " ") // unwrapped
		}
		removalsOf := func(held *runs.Run) []archive.GroupRemovals {
			st, err := e.st.LoadState(ctx, e.tenant.ID)
			if err != nil {
				t.Fatal(err)
			}
			data, err := e.im.PlanBytes(ctx, held.ID)
			if err != nil {
				t.Fatal(err)
			}
			var plan change.Plan
			if err := json.Unmarshal(data, &plan); err != nil {
				t.Fatal(err)
			}
			return archive.Removals(&plan, st)
		}
		check := func(what, text string, run *runs.Run, removals []archive.GroupRemovals) {
			t.Helper()
			for _, w := range []string{
				"Where the removals come from (largest first):",
				"- " + removals[0].String() + " - " + removals[1].String(),
				fmt.Sprintf("This run in the console: https://imsfeed.example.org/ops/runs/%d", run.ID),
				// The tail counts the rows it leaves out, and the groups they come from.
				fmt.Sprintf("... and %d more (from %d groups), none losing more", len(removals)-10, groupsIn(removals[10:])),
			} {
				if !strings.Contains(text, w) {
					t.Errorf("the %s mail lacks %q:\n%s", what, w, text)
				}
			}
		}

		held := e.imp(e.file("n2.xml", small(feedgen.Options{DropPercent: 30})))
		wantStatus(t, held, runs.Held)
		removals := removalsOf(held)
		rejected, err := e.im.Reject(ctx, importer.Decision{RunID: held.ID, By: "Kari Nordmann", Reason: "the export lost a school"})
		if err != nil {
			t.Fatal(err)
		}
		text := last()
		check("reject", text, rejected, removals)
		if !strings.Contains(text, "Kari Nordmann") || !strings.Contains(text, "the export lost a school") {
			t.Errorf("the reject mail does not say who rejected and why:\n%s", text)
		}

		held = e.imp(e.file("n3.xml", small(feedgen.Options{DropPercent: 25})))
		wantStatus(t, held, runs.Held)
		removals = removalsOf(held)
		approved, err := e.im.Approve(ctx, importer.Decision{RunID: held.ID, By: "Kari Nordmann", Reason: "pupils moved"})
		if err != nil {
			t.Fatal(err)
		}
		check("approve", last(), approved, removals)

		undo, err := e.im.Undo(ctx, importer.UndoRequest{RunID: approved.ID, By: "Kari Nordmann", Reason: "moved back"})
		if err != nil {
			t.Fatal(err)
		}
		if text := last(); !strings.Contains(text, fmt.Sprintf("This run in the console: https://imsfeed.example.org/ops/runs/%d", undo.ID)) {
			t.Errorf("the undo mail does not link its run:\n%s", text)
		}
	})
}

// groupsIn counts the groups rows come from (a row is a group and role).
func groupsIn(rows []archive.GroupRemovals) int {
	seen := map[string]bool{}
	for _, r := range rows {
		seen[r.Group] = true
	}
	return len(seen)
}
