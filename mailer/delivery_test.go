package mailer

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// files lists the outbox's sub folder's .eml files.
func files(t *testing.T, out, sub string) []string {
	t.Helper()
	f, err := filepath.Glob(filepath.Join(out, sub, "*.eml*"))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// A mail the server refuses for good (5xx) is tried max_tries times, then moved to the
// dead-letter folder and never tried again; every outcome carries the server's reason.
func TestPermanentlyRefusedMailIsDeadLettered(t *testing.T) {
	t.Parallel()
	srv := startServer(t, serverOpts{refuse: &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "message rejected as spam"}})
	logger, logs := newLogger()
	out := t.TempDir()
	m := New(smtpConfig(srv.Port), out, logger)
	var mu sync.Mutex
	updates := map[int64][]Result{}
	m.OnUpdate(func(id int64, r Result) { mu.Lock(); updates[id] = append(updates[id], r); mu.Unlock() })

	res, err := m.Send(context.Background(), kinds()["completed"])
	if err != nil || res.Status != StatusQueued || res.Err == nil || !strings.Contains(res.Err.Error(), "554") {
		t.Fatalf("Send = %+v, %v; want queued with the server's 554", res, err)
	}
	if _, err := m.Flush(context.Background()); err == nil || !strings.Contains(err.Error(), "spam") {
		t.Errorf("second try: Flush error %v, want the refusal", err)
	}
	if _, err := m.Flush(context.Background()); err == nil {
		t.Error("third try: Flush reported no error")
	}
	if n := srv.dataTries(); n != 3 {
		t.Errorf("the server was offered the mail %d times, want 3 (max_tries)", n)
	}
	if q := files(t, out, queueDir); len(q) != 0 {
		t.Errorf("queue still holds %v", q)
	}
	dead := files(t, out, deadDir)
	if len(dead) != 1 {
		t.Fatalf("dead-letter folder holds %v, want the one mail", dead)
	}
	for i := 0; i < 3; i++ {
		if n, err := m.Flush(context.Background()); n != 0 || err != nil {
			t.Errorf("Flush after the dead letter = %d, %v; want nothing to do", n, err)
		}
	}
	if n := srv.dataTries(); n != 3 {
		t.Errorf("a dead letter was tried again: %d tries", n)
	}
	got := updates[17]
	if len(got) != 2 || got[0].Status != StatusQueued || got[1].Status != StatusDead || got[1].Path != dead[0] ||
		!strings.Contains(got[1].Err.Error(), "554") || !strings.Contains(got[1].Err.Error(), "refused 3 times") {
		t.Errorf("updates for run 17: %+v; want queued, then dead-letter with the reason and path", got)
	}
	if !strings.Contains(logs.String(), "dead-lettered") || !strings.Contains(logs.String(), "spam") {
		t.Errorf("the dead letter is not logged with its reason:\n%s", logs)
	}
	st := m.Stats()
	if st.DeadLettered != 1 || st.DeadLetters != 1 || st.QueueLength != 0 || st.Sent != 0 || st.Refused != 2 {
		t.Errorf("Stats = %+v; want one dead letter, two refusals short of it", st)
	}
}

// A server slow to answer the end of DATA (beyond the short step timeout) gets the mail once:
// the final reply has its own long wait.
func TestSlowDataReplyDeliversOnce(t *testing.T) {
	t.Parallel()
	srv := startServer(t, serverOpts{delay: 1500 * time.Millisecond})
	cfg := smtpConfig(srv.Port)
	cfg.Timeout = 300 * time.Millisecond
	out := t.TempDir()
	m := New(cfg, out, nil)
	res, err := m.Send(context.Background(), kinds()["held"])
	if err != nil || res.Status != StatusSent || res.Err != nil {
		t.Fatalf("Send = %+v, %v; want sent after the slow reply", res, err)
	}
	for i := 0; i < 2; i++ {
		if n, err := m.Flush(context.Background()); n != 0 || err != nil {
			t.Errorf("Flush = %d, %v; want nothing left", n, err)
		}
	}
	if got := srv.mails(); len(got) != 1 {
		t.Fatalf("server received %d mails, want exactly one", len(got))
	}
	if left := files(t, out, queueDir); len(left) != 0 {
		t.Errorf("queue holds %v", left)
	}
}

// The short timeout still holds for the other steps: a reply to DATA that never comes within
// the final wait leaves the mail unconfirmed, not resent.
func TestNoReplyAfterDataIsUnconfirmedNotResent(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		o    serverOpts
	}{
		{"hang-up", serverOpts{hangUp: true}},
		{"no reply in time", serverOpts{delay: 2 * time.Second}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, c.o)
			out := t.TempDir()
			logger, logs := newLogger()
			m := New(smtpConfig(srv.Port), out, logger)
			m.dataReply = 500 * time.Millisecond
			res, err := m.Send(context.Background(), kinds()["completed"])
			if err != nil || res.Status != StatusUnconfirmed || res.Err == nil {
				t.Fatalf("Send = %+v, %v; want unconfirmed", res, err)
			}
			un := files(t, out, unconfirmedDir)
			if len(un) != 1 || un[0] != res.Path {
				t.Errorf("unconfirmed folder holds %v, Result says %s", un, res.Path)
			}
			for i := 0; i < 2; i++ {
				if n, err := m.Flush(context.Background()); n != 0 || err != nil {
					t.Errorf("Flush = %d, %v; want nothing to resend", n, err)
				}
			}
			if n := srv.dataTries(); n != 1 {
				t.Errorf("the server was given the mail %d times, want once", n)
			}
			if !strings.Contains(logs.String(), "unconfirmed") {
				t.Errorf("not logged:\n%s", logs)
			}
			if st := m.Stats(); st.Unconfirmed != 1 || st.UnconfirmedMails != 1 {
				t.Errorf("Stats = %+v", st)
			}
		})
	}
}

// A process killed while waiting for the server's answer to the end of DATA leaves an .ending
// claim: a later Flush moves it to unconfirmed and does not send it again.
func TestClaimKilledAfterDataIsNotResent(t *testing.T) {
	t.Parallel()
	srv := startServer(t, serverOpts{})
	out := t.TempDir()
	m := New(smtpConfig(srv.Port), out, nil)
	q := queued{dir: filepath.Join(out, queueDir), base: "20260302T020000Z-northside-run17-dead"}
	raw := mustCompose(t, m, kinds()["completed"])
	if err := writeClaimed(q, raw); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(q.path(claimSuffix), q.path(endingSuffix)); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	os.Chtimes(q.path(endingSuffix), old, old)
	var got []Result
	m.OnUpdate(func(id int64, r Result) { got = append(got, r) })
	if n, err := m.Flush(context.Background()); n != 0 || err != nil {
		t.Errorf("Flush = %d, %v", n, err)
	}
	if len(srv.mails()) != 0 {
		t.Error("a mail whose data may have been taken was sent again")
	}
	if un := files(t, out, unconfirmedDir); len(un) != 1 || len(got) != 1 || got[0].Status != StatusUnconfirmed {
		t.Errorf("unconfirmed: %v, updates %+v", un, got)
	}
}

// A server that refuses one recipient still delivers to the others, and says who was refused.
func TestOneRefusedRecipientDoesNotStopTheMail(t *testing.T) {
	t.Parallel()
	srv := startServer(t, serverOpts{refuseRcp: "ops@example.org"})
	res, err := New(smtpConfig(srv.Port), t.TempDir(), nil).Send(context.Background(), kinds()["completed"])
	if err != nil || res.Status != StatusSent || res.Err == nil || !strings.Contains(res.Err.Error(), "ops@example.org") {
		t.Fatalf("Send = %+v, %v; want sent, naming the refused recipient", res, err)
	}
	if got := srv.mails(); len(got) != 1 || strings.Join(got[0].To, ",") != "it@northside.example.org" {
		t.Errorf("server received %+v", got)
	}
}

func mustCompose(t *testing.T, m *Mailer, msg Message) []byte {
	t.Helper()
	r := mustRender(t, msg)
	_, _, raw, err := m.compose(msg, r)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// An outbox that cannot be written does not stop a mail the server would take.
func TestUnwritableOutboxStillSends(t *testing.T) {
	t.Parallel()
	srv := startServer(t, serverOpts{})
	out := filepath.Join(t.TempDir(), "outbox")
	if err := os.WriteFile(out, []byte("a file where the folder should be"), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := New(smtpConfig(srv.Port), out, nil).Send(context.Background(), kinds()["completed"])
	if err != nil || res.Status != StatusSent || len(srv.mails()) != 1 {
		t.Fatalf("Send = %+v, %v, %d mails; want sent", res, err, len(srv.mails()))
	}
}
