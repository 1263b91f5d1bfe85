// Package mailer is the status log: one mail for every import attempt. Render turns a run
// record and its change set into a subject, a plain-text and an HTML part and a CSV of the
// changes; a Mailer composes that with github.com/go-mail/mail/v2 and sends it with net/smtp,
// each step under its own deadline (smtp.go). Without SMTP every mail is
// written to an outbox folder as an .eml file; when SMTP fails the mail waits in the outbox
// queue until Flush sends it, so the run's result stands and no mail is lost.
package mailer

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	gomail "github.com/go-mail/mail/v2"
)

// Result statuses; they go into runs.Run.Mail.
const (
	StatusSent   = "sent"   // the SMTP server accepted the mail
	StatusOutbox = "outbox" // no SMTP: written to the outbox folder
	StatusQueued = "queued" // SMTP failed: waiting in the outbox queue for Flush
	// StatusDead: the server refused the mail itself (a 5xx reply) SMTPConfig.MaxTries times;
	// it lies in outbox/dead and is not tried again.
	StatusDead = "dead-letter"
	// StatusUnconfirmed: the connection was lost after the server had the whole mail, before
	// it answered. It may have been delivered, so it is not sent again by itself (that could
	// deliver it twice); it lies in outbox/unconfirmed.
	StatusUnconfirmed = "unconfirmed"
)

// Result is what became of one mail.
type Result struct {
	Status    string
	Path      string // the .eml file, for outbox, queued, dead-letter and unconfirmed
	MessageID string
	// Err is why SMTP failed (queued, dead-letter, unconfirmed), or which recipients the
	// server refused when it took the mail for the others (sent). It never contains the
	// password.
	Err error
}

// OnUpdate registers f to be told the outcome of every queued mail Flush tries (sent, still
// queued and why, dead-letter, unconfirmed), with the run id from the mail's X-Imsfeed-Run
// header (0 for a mail about an attempt the store could not record). Set it before use.
func (m *Mailer) OnUpdate(f func(runID int64, r Result)) { m.onUpdate = f }

// Mailer renders and delivers status mails. It is safe for concurrent use.
type Mailer struct {
	onUpdate  func(runID int64, r Result)
	cfg       *SMTPConfig
	outbox    string
	log       *slog.Logger
	now       func() time.Time
	dataReply time.Duration // DataReplyTimeout; shorter in tests
	stats     counters
}

// New returns a mailer. cfg nil means no SMTP: every mail goes to the outbox folder. outbox
// also holds the queue (outbox/queue) of mails SMTP did not take, the mails it refused for good
// (outbox/dead) and those whose fate is unknown (outbox/unconfirmed). logger may be nil.
func New(cfg *SMTPConfig, outbox string, logger *slog.Logger) *Mailer {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Mailer{cfg: cfg, outbox: outbox, log: logger, now: time.Now, dataReply: DataReplyTimeout}
}

// The outbox's folders. A queued mail is NAME.eml while it waits, NAME.eml.sending while one
// process sends it, NAME.eml.ending from just before the line that ends its data until the
// server's answer; NAME.json beside it keeps its tries and the last error.
const (
	queueDir       = "queue"
	deadDir        = "dead"
	unconfirmedDir = "unconfirmed"
	claimSuffix    = ".sending"
	endingSuffix   = ".ending"
)

// Send renders msg and delivers it: by SMTP, else (no SMTP configured, or no recipients) into
// the outbox folder. When SMTP fails the mail is queued and Send returns Result{Status:
// "queued", Err: why} with a nil error: the run's result stands. The error is non-nil only
// when the mail could be neither sent nor written.
func (m *Mailer) Send(ctx context.Context, msg Message) (Result, error) {
	r, err := Render(msg)
	if err != nil {
		return Result{}, err
	}
	return m.send(ctx, msg, r)
}

// send delivers a rendered mail as Send does.
func (m *Mailer) send(ctx context.Context, msg Message, r *Rendered) (Result, error) {
	env, id, raw, err := m.compose(msg, r)
	if err != nil {
		return Result{}, err
	}
	run := msg.Run.ID
	log := m.log.With("tenant", r.Headers["X-Imsfeed-Tenant"], "run", run, "message_id", id)
	base := fmt.Sprintf("%s-%s-run%d", m.now().UTC().Format("20060102T150405Z"), fileSafe(r.Headers["X-Imsfeed-Tenant"]), run)

	if m.outbox == "" && (m.cfg == nil || len(env.to) == 0) {
		return Result{}, fmt.Errorf("status mail of run %d: no SMTP server and no outbox folder configured", run)
	}
	if m.cfg == nil || len(env.to) == 0 {
		if m.cfg != nil {
			log.Warn("status mail has no recipients: written to the outbox", "status", r.Headers["X-Imsfeed-Status"])
		}
		path, err := writeNew(m.outbox, base, raw)
		if err != nil {
			return Result{}, fmt.Errorf("status mail of run %d: outbox: %w", run, err)
		}
		log.Info("status mail written to outbox", "path", path)
		return Result{Status: StatusOutbox, Path: path, MessageID: id}, nil
	}
	q := queued{dir: filepath.Join(m.outbox, queueDir), base: base + "-" + randHex(4), run: run}
	var qerr error
	if m.outbox != "" {
		// The mail is on disk, claimed, before the first byte goes out: whatever happens to
		// the process or the connection, the queue knows whether the server may have it.
		if qerr = writeClaimed(q, raw); qerr != nil {
			log.Error("status mail could not be queued; trying SMTP once without a queue", "err", qerr)
		}
	}
	if m.outbox == "" || qerr != nil {
		// Nowhere to queue it or to record that its data went out: one try.
		err := ctx.Err()
		var refused []string
		if err == nil {
			refused, err = m.deliver(ctx, env, raw, func() error { return nil })
		}
		if err != nil && qerr != nil {
			return Result{}, fmt.Errorf("status mail of run %d: %w (and the outbox queue: %v)", run, err, qerr)
		}
		if err != nil {
			return Result{}, fmt.Errorf("status mail of run %d: %w (no outbox folder to queue it in)", run, err)
		}
		m.stats.sent.Add(1)
		return Result{Status: StatusSent, MessageID: id, Err: refusedErr(refused)}, nil
	}

	if err := ctx.Err(); err != nil {
		res := m.requeue(q, mailState{Run: run}, err, log)
		res.MessageID = id
		return res, nil
	}
	res := m.attempt(ctx, q, env, raw, mailState{Run: run}, log)
	res.MessageID = id
	return res, nil
}

// Flush tries every queued mail once. A mail leaves the queue only after the server accepted
// it, or refused it SMTPConfig.MaxTries times (then it goes to outbox/dead). A mail being sent
// is claimed (renamed) first, so two processes flushing the same outbox do not both send it.
// It stops at the first server it cannot reach; it returns how many mails were sent.
func (m *Mailer) Flush(ctx context.Context) (sent int, err error) {
	if m.cfg == nil || m.outbox == "" {
		return 0, nil
	}
	dir := filepath.Join(m.outbox, queueDir)
	m.reclaim(dir)
	names, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	if err != nil || len(names) == 0 {
		return 0, err
	}
	sort.Strings(names) // oldest first: names start with the time
	var errs []error
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return sent, errors.Join(append(errs, err)...)
		}
		q := queued{dir: dir, base: strings.TrimSuffix(filepath.Base(name), ".eml")}
		if err := os.Rename(name, q.path(claimSuffix)); err != nil {
			continue // another process took it
		}
		now := m.now()
		_ = os.Chtimes(q.path(claimSuffix), now, now) // the claim's age, for reclaim
		raw, err := os.ReadFile(q.path(claimSuffix))
		var env envelope
		if err == nil {
			env, err = envelopeOf(raw)
		}
		if err != nil {
			_ = os.Rename(q.path(claimSuffix), name)
			errs = append(errs, fmt.Errorf("queued mail %s: %w", filepath.Base(name), err))
			continue
		}
		st := q.state()
		if st.Run == 0 {
			st.Run = runOf(raw)
		}
		q.run = st.Run
		log := m.log.With("run", st.Run, "path", name)
		res := m.attempt(ctx, q, env, raw, st, log)
		if m.onUpdate != nil {
			m.onUpdate(st.Run, res)
		}
		if res.Status == StatusSent {
			sent++
			continue
		}
		errs = append(errs, fmt.Errorf("queued mail %s: %w", filepath.Base(name), res.Err))
		var de dialError
		if errors.As(res.Err, &de) {
			break // the server is down: the rest would fail the same way
		}
	}
	return sent, errors.Join(errs...)
}

// queued names one mail in a queue folder.
type queued struct {
	dir, base string
	run       int64
}

func (q queued) path(suffix string) string { return filepath.Join(q.dir, q.base+".eml"+suffix) }
func (q queued) statePath() string         { return filepath.Join(q.dir, q.base+".json") }

// mailState is a queued mail's history, kept beside it as NAME.json.
type mailState struct {
	Run       int64     `json:"run"`
	Attempts  int       `json:"attempts"`
	Refusals  int       `json:"refusals"` // 5xx replies to the mail itself
	LastError string    `json:"last_error,omitempty"`
	LastTry   time.Time `json:"last_try,omitzero"`
}

func (q queued) state() mailState {
	var st mailState
	if b, err := os.ReadFile(q.statePath()); err == nil {
		_ = json.Unmarshal(b, &st)
	}
	return st
}

func (q queued) saveState(st mailState) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(q.statePath(), b)
}

// attempt sends the claimed mail q once and files it by the outcome: removed (sent), back in
// the queue (a temporary failure, or a refusal short of MaxTries), outbox/dead, or
// outbox/unconfirmed.
func (m *Mailer) attempt(ctx context.Context, q queued, env envelope, raw []byte, st mailState, log *slog.Logger) Result {
	ending := false
	refused, err := m.deliver(ctx, env, raw, func() error {
		// Durable before the server can take the mail: a crash from here on leaves an
		// .ending file, which reclaim never puts back in the queue.
		if err := os.Rename(q.path(claimSuffix), q.path(endingSuffix)); err != nil {
			return fmt.Errorf("the queued mail was taken back meanwhile: %w", err)
		}
		ending = true
		now := m.now()
		_ = os.Chtimes(q.path(endingSuffix), now, now) // the wait's start, for reclaim
		return syncDir(q.dir)
	})
	st.Attempts++
	st.LastTry = m.now().UTC()
	var rf refusedError
	var un unconfirmedError
	switch {
	case err == nil:
		if rerr := os.Remove(q.path(endingSuffix)); rerr != nil {
			log.Error("status mail sent but not removed from the queue; it will not be sent again (it is no longer waiting)", "err", rerr)
		}
		_ = os.Remove(q.statePath())
		m.stats.sent.Add(1)
		res := Result{Status: StatusSent, Err: refusedErr(refused)}
		if res.Err != nil {
			log.Warn("status mail sent, but the server refused some recipients", "server", m.server(), "refused", res.Err)
		}
		log.Info("status mail sent", "recipients", len(env.to)-len(refused), "server", m.server(), "attempts", st.Attempts)
		return res
	case errors.As(err, &un) && ending:
		st.LastError = err.Error()
		path := m.moveTo(q, endingSuffix, unconfirmedDir, st, log)
		m.stats.unconfirmed.Add(1)
		log.Error("status mail unconfirmed: the connection ended after the server had the whole mail, before it answered; it may have been delivered, so it is not sent again by itself",
			"server", m.server(), "err", err, "moved_to", path)
		return Result{Status: StatusUnconfirmed, Path: path, Err: err}
	}
	if ending {
		// The server answered the end of the data with an error: it did not take the mail.
		if rerr := os.Rename(q.path(endingSuffix), q.path(claimSuffix)); rerr != nil {
			log.Error("queued status mail could not be put back in the queue", "err", rerr)
		}
	}
	if errors.As(err, &rf) {
		st.Refusals++
		if st.Refusals >= m.cfg.maxTries() {
			st.LastError = err.Error()
			path := m.moveTo(q, claimSuffix, deadDir, st, log)
			m.stats.dead.Add(1)
			log.Error("status mail dead-lettered: the server refused it for good", "server", m.server(), "err", err, "refusals", st.Refusals, "moved_to", path)
			return Result{Status: StatusDead, Path: path, Err: fmt.Errorf("refused %d times: %w; moved to %s", st.Refusals, err, path)}
		}
		m.stats.refused.Add(1)
	}
	return m.requeue(q, st, err, log)
}

// requeue puts the claimed mail back to wait for the next Flush.
func (m *Mailer) requeue(q queued, st mailState, err error, log *slog.Logger) Result {
	st.LastError = err.Error()
	if serr := q.saveState(st); serr != nil {
		log.Warn("queued status mail: state not saved", "err", serr)
	}
	if rerr := os.Rename(q.path(claimSuffix), q.path("")); rerr != nil {
		log.Error("queued status mail could not be put back in the queue", "err", rerr)
	}
	m.stats.queued.Add(1)
	log.Warn("status mail queued: SMTP failed", "server", m.server(), "err", err, "path", q.path(""), "attempts", st.Attempts)
	return Result{Status: StatusQueued, Path: q.path(""), Err: err}
}

// moveTo moves the mail (in state suffix) and its state to the outbox folder sub.
func (m *Mailer) moveTo(q queued, suffix, sub string, st mailState, log *slog.Logger) string {
	to := queued{dir: filepath.Join(m.outbox, sub), base: q.base, run: q.run}
	if err := os.MkdirAll(to.dir, 0o750); err != nil {
		log.Error("status mail: folder", "dir", to.dir, "err", err)
		return q.path(suffix)
	}
	if err := to.saveState(st); err != nil {
		log.Warn("status mail: state not saved", "err", err)
	}
	if err := os.Rename(q.path(suffix), to.path("")); err != nil {
		log.Error("status mail could not be moved", "to", to.path(""), "err", err)
		return q.path(suffix)
	}
	_ = os.Remove(q.statePath())
	return to.path("")
}

// reclaim deals with claims left by a process that died while sending. A claim older than a
// few timeouts cannot still be in flight: a mail that had not reached the end of its data goes
// back to the queue; one that had (.ending) goes to outbox/unconfirmed, never back.
func (m *Mailer) reclaim(dir string) {
	stale := 4*m.cfg.timeout() + time.Minute
	claims, _ := filepath.Glob(filepath.Join(dir, "*.eml"+claimSuffix))
	for _, c := range claims {
		fi, err := os.Stat(c)
		if err == nil && m.now().Sub(fi.ModTime()) > stale {
			_ = os.Rename(c, strings.TrimSuffix(c, claimSuffix))
		}
	}
	endings, _ := filepath.Glob(filepath.Join(dir, "*.eml"+endingSuffix))
	for _, e := range endings {
		fi, err := os.Stat(e)
		if err != nil || m.now().Sub(fi.ModTime()) <= m.dataReply+stale {
			continue
		}
		q := queued{dir: dir, base: strings.TrimSuffix(filepath.Base(e), ".eml"+endingSuffix)}
		st := q.state()
		st.LastError = "the process sending it ended after the server had the whole mail, before it answered"
		path := m.moveTo(q, endingSuffix, unconfirmedDir, st, m.log)
		m.stats.unconfirmed.Add(1)
		m.log.Error("status mail unconfirmed: "+st.LastError+"; it may have been delivered, so it is not sent again by itself", "moved_to", path)
		if m.onUpdate != nil {
			m.onUpdate(st.Run, Result{Status: StatusUnconfirmed, Path: path, Err: errors.New(st.LastError)})
		}
	}
}

func (m *Mailer) server() string {
	return m.cfg.Host + ":" + strconv.Itoa(m.cfg.port())
}

// envelope is the SMTP sender and recipients of a mail.
type envelope struct {
	from string
	to   []string
}

// dialError marks a failure to reach or log in to the server, as opposed to one mail being
// refused.
type dialError struct{ err error }

func (e dialError) Error() string { return e.err.Error() }
func (e dialError) Unwrap() error { return e.err }

// deliver sends one serialized mail over a fresh connection; see smtpSession.send.
func (m *Mailer) deliver(ctx context.Context, env envelope, raw []byte, beforeEnd func() error) ([]string, error) {
	s, err := m.dial(ctx)
	if err != nil {
		return nil, err
	}
	defer s.close()
	return s.send(env, raw, beforeEnd)
}

func refusedErr(refused []string) error {
	if len(refused) == 0 {
		return nil
	}
	return fmt.Errorf("recipients refused: %s", strings.Join(refused, "; "))
}

// runOf reads the run id from a mail's X-Imsfeed-Run header; 0 when there is none.
func runOf(raw []byte) int64 {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return 0
	}
	id, _ := strconv.ParseInt(msg.Header.Get("X-Imsfeed-Run"), 10, 64)
	return id
}

// Stats are the mailer's counters since the process started and the outbox folders' sizes
// now: what /metrics exports (imsfeed_mail_sent_total, imsfeed_mail_dead_letters, ...).
type Stats struct {
	Sent         uint64 // mails the server accepted
	Queued       uint64 // attempts that left a mail in the queue (server down, 4xx, refusals under max_tries)
	Refused      uint64 // 5xx refusals that left the mail in the queue for another try
	DeadLettered uint64 // mails moved to outbox/dead
	Unconfirmed  uint64 // mails moved to outbox/unconfirmed
	// Folder sizes when Stats was called.
	QueueLength, DeadLetters, UnconfirmedMails int
}

type counters struct {
	sent, queued, refused, dead, unconfirmed atomic.Uint64
}

// Stats returns the counters and the outbox folders' sizes.
func (m *Mailer) Stats() Stats {
	s := Stats{Sent: m.stats.sent.Load(), Queued: m.stats.queued.Load(), Refused: m.stats.refused.Load(),
		DeadLettered: m.stats.dead.Load(), Unconfirmed: m.stats.unconfirmed.Load()}
	if m.outbox != "" {
		count := func(sub, pattern string) int {
			n, _ := filepath.Glob(filepath.Join(m.outbox, sub, pattern))
			return len(n)
		}
		s.QueueLength = count(queueDir, "*.eml*")
		s.DeadLetters = count(deadDir, "*.eml")
		s.UnconfirmedMails = count(unconfirmedDir, "*.eml")
	}
	return s
}

// compose addresses and serializes the mail once, so the bytes queued are the bytes sent and
// a mail keeps its Message-ID through the queue.
func (m *Mailer) compose(msg Message, r *Rendered) (envelope, string, []byte, error) {
	fromText := "imsfeed <imsfeed@localhost>"
	if m.cfg != nil && m.cfg.From != "" {
		fromText = m.cfg.From
	}
	from, err := mail.ParseAddress(fromText)
	if err != nil {
		return envelope{}, "", nil, fmt.Errorf("smtp.from: %q: %v", fromText, err)
	}
	env := envelope{from: from.Address}
	var to, cc []string
	seen := map[string]bool{}
	add := func(list *[]string, addrs []string, what string) {
		for _, a := range addrs {
			p, err := mail.ParseAddress(a)
			if err != nil {
				m.log.Warn("status mail: bad recipient address skipped", "list", what, "address", oneLine(a), "err", err)
				continue
			}
			if k := strings.ToLower(p.Address); !seen[k] {
				seen[k] = true
				*list = append(*list, p.String())
				env.to = append(env.to, p.Address)
			}
		}
	}
	add(&to, msg.Tenant.Subscribers, "subscribers")
	if m.cfg != nil {
		add(&cc, m.cfg.Operators, "operators")
	}

	g := gomail.NewMessage()
	g.SetAddressHeader("From", from.Address, from.Name)
	if len(to) > 0 {
		g.SetHeader("To", to...)
	}
	if len(cc) > 0 {
		g.SetHeader("Cc", cc...)
	}
	g.SetHeader("Subject", r.Subject)
	id := messageID(r.Headers["X-Imsfeed-Tenant"], msg.Run.ID, from.Address, m.now())
	g.SetHeader("Message-ID", id)
	g.SetDateHeader("Date", m.now())
	g.SetHeader("Auto-Submitted", "auto-generated") // RFC 3834: no vacation replies
	for k, v := range r.Headers {
		g.SetHeader(k, oneLine(v))
	}
	g.SetBody("text/plain", r.Text)
	g.AddAlternative("text/html", r.HTML)
	if r.CSV != nil {
		g.AttachReader(r.CSVName, bytes.NewReader(r.CSV), gomail.SetHeader(map[string][]string{
			"Content-Type": {`text/csv; charset=utf-8; name="` + r.CSVName + `"`},
		}))
	}
	var buf bytes.Buffer
	if _, err := g.WriteTo(&buf); err != nil {
		return envelope{}, "", nil, fmt.Errorf("status mail of run %d: %w", msg.Run.ID, err)
	}
	return env, id, buf.Bytes(), nil
}

// envelopeOf reads a queued mail's sender and recipients back from its headers.
func envelopeOf(raw []byte) (envelope, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return envelope{}, err
	}
	from, err := mail.ParseAddress(msg.Header.Get("From"))
	if err != nil {
		return envelope{}, fmt.Errorf("from: %w", err)
	}
	env := envelope{from: from.Address}
	for _, h := range []string{"To", "Cc"} {
		list, err := msg.Header.AddressList(h)
		if err != nil && !errors.Is(err, mail.ErrHeaderNotPresent) {
			return envelope{}, fmt.Errorf("%s: %w", strings.ToLower(h), err)
		}
		for _, a := range list {
			env.to = append(env.to, a.Address)
		}
	}
	if len(env.to) == 0 {
		return envelope{}, errors.New("no recipients")
	}
	return env, nil
}

func messageID(tenant string, run int64, from string, now time.Time) string {
	domain := "imsfeed.invalid"
	if i := strings.LastIndexByte(from, '@'); i >= 0 && i+1 < len(from) {
		domain = from[i+1:]
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	return fmt.Sprintf("<imsfeed.%s.run%d.%s.%s@%s>", fileSafe(tenant), run,
		strconv.FormatInt(now.UnixNano(), 36), hex.EncodeToString(rnd[:]), domain)
}

// writeNew writes data as dir/base.eml (base-2.eml, ... if taken) atomically: readers such as
// Flush never see half a file, and no earlier mail is overwritten.
func writeNew(dir, base string, data []byte) (string, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	for i := 1; ; i++ {
		name := base + ".eml"
		if i > 1 {
			name = fmt.Sprintf("%s-%d.eml", base, i)
		}
		path := filepath.Join(dir, name)
		err := os.Link(tmp.Name(), path) // unlike Rename, Link never replaces an existing file
		if err == nil {
			return path, nil
		}
		if !errors.Is(err, os.ErrExist) || i > 1000 {
			return "", err
		}
	}
}

// writeClaimed writes a new queued mail, already claimed (NAME.eml.sending), atomically.
func writeClaimed(q queued, raw []byte) error {
	if err := os.MkdirAll(q.dir, 0o750); err != nil {
		return err
	}
	if q.run != 0 {
		if err := q.saveState(mailState{Run: q.run}); err != nil {
			return err
		}
	}
	return writeAtomic(q.path(claimSuffix), raw)
}

// writeAtomic writes data to path through a synced temporary file and a rename.
func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
