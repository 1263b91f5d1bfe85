// Package mailer is the status log: one mail for every import attempt. Render turns a run
// record and its change set into a subject, a plain-text and an HTML part and a CSV of the
// changes; a Mailer sends that with github.com/go-mail/mail/v2. Without SMTP every mail is
// written to an outbox folder as an .eml file; when SMTP fails the mail waits in the outbox
// queue until Flush sends it, so the run's result stands and no mail is lost.
package mailer

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	gomail "github.com/go-mail/mail/v2"
)

// Result statuses; they go into runs.Run.Mail.
const (
	StatusSent   = "sent"   // the SMTP server accepted the mail
	StatusOutbox = "outbox" // no SMTP: written to the outbox folder
	StatusQueued = "queued" // SMTP failed: waiting in the outbox queue for Flush
)

// Result is what became of one mail.
type Result struct {
	Status    string
	Path      string // the .eml file, for outbox and queued
	MessageID string
	// Err is why SMTP failed, for a queued mail. It never contains the password.
	Err error
}

// OnSent registers f to be told the run id of each queued mail Flush delivers, so the run
// record can stop saying "queued". Set it before the Mailer is used.
func (m *Mailer) OnSent(f func(runID int64)) { m.onSent = f }

// Mailer renders and delivers status mails. It is safe for concurrent use.
type Mailer struct {
	onSent func(runID int64)
	cfg    *SMTPConfig
	outbox string
	log    *slog.Logger
	now    func() time.Time
}

// New returns a mailer. cfg nil means no SMTP: every mail goes to the outbox folder. outbox
// also holds the queue (outbox/queue) of mails SMTP did not take. logger may be nil.
func New(cfg *SMTPConfig, outbox string, logger *slog.Logger) *Mailer {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Mailer{cfg: cfg, outbox: outbox, log: logger, now: time.Now}
}

const queueDir = "queue"

// Send renders msg and delivers it: by SMTP, else (no SMTP configured, or no recipients) into
// the outbox folder. When SMTP fails the mail is queued and Send returns Result{Status:
// "queued", Err: why} with a nil error: the run's result stands. The error is non-nil only
// when the mail could be neither sent nor written.
func (m *Mailer) Send(ctx context.Context, msg Message) (Result, error) {
	r, err := Render(msg)
	if err != nil {
		return Result{}, err
	}
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

	sendErr := ctx.Err()
	if sendErr == nil {
		sendErr = m.deliver(env, raw)
	}
	if sendErr == nil {
		log.Info("status mail sent", "recipients", len(env.to), "server", m.server())
		return Result{Status: StatusSent, MessageID: id}, nil
	}
	if m.outbox == "" {
		return Result{}, fmt.Errorf("status mail of run %d: %w (no outbox folder to queue it in)", run, sendErr)
	}
	path, err := writeNew(filepath.Join(m.outbox, queueDir), base, raw)
	if err != nil {
		return Result{}, fmt.Errorf("status mail of run %d: %w; queue: %v", run, sendErr, err)
	}
	log.Warn("status mail queued: SMTP failed", "server", m.server(), "err", sendErr, "path", path)
	return Result{Status: StatusQueued, Path: path, MessageID: id, Err: sendErr}, nil
}

// Flush sends every queued mail once. A mail leaves the queue only after the server accepted
// it, and a mail being sent is claimed (renamed) first, so two processes flushing the same
// outbox do not both send it. It stops at the first server it cannot reach; it returns how
// many mails were sent.
func (m *Mailer) Flush(ctx context.Context) (sent int, err error) {
	if m.cfg == nil {
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
		claimed := name + claimSuffix
		if err := os.Rename(name, claimed); err != nil {
			continue // another process took it
		}
		now := m.now()
		_ = os.Chtimes(claimed, now, now) // the claim's age, for reclaim
		raw, err := os.ReadFile(claimed)
		var env envelope
		if err == nil {
			env, err = envelopeOf(raw)
		}
		if err != nil {
			_ = os.Rename(claimed, name)
			errs = append(errs, fmt.Errorf("queued mail %s: %w", filepath.Base(name), err))
			continue
		}
		if err := m.deliver(env, raw); err != nil {
			_ = os.Rename(claimed, name)
			m.log.Warn("queued status mail not sent", "path", name, "server", m.server(), "err", err)
			errs = append(errs, fmt.Errorf("queued mail %s: %w", filepath.Base(name), err))
			var de dialError
			if errors.As(err, &de) {
				break // the server is down: the rest would fail the same way
			}
			continue
		}
		if err := os.Remove(claimed); err != nil {
			m.log.Error("queued status mail sent but not removed: it may be sent again", "path", claimed, "err", err)
		}
		m.log.Info("queued status mail sent", "path", name, "recipients", len(env.to))
		sent++
		if m.onSent != nil {
			if msg, err := mail.ReadMessage(bytes.NewReader(raw)); err == nil {
				if id, err := strconv.ParseInt(msg.Header.Get("X-Imsfeed-Run"), 10, 64); err == nil {
					m.onSent(id)
				}
			}
		}
	}
	return sent, errors.Join(errs...)
}

const claimSuffix = ".sending"

// reclaim puts back claims left by a process that died while sending. A claim older than a
// few timeouts cannot still be in flight.
func (m *Mailer) reclaim(dir string) {
	claims, _ := filepath.Glob(filepath.Join(dir, "*.eml"+claimSuffix))
	stale := 4*m.cfg.timeout() + time.Minute
	for _, c := range claims {
		fi, err := os.Stat(c)
		if err == nil && m.now().Sub(fi.ModTime()) > stale {
			_ = os.Rename(c, strings.TrimSuffix(c, claimSuffix))
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

// deliver sends one serialized mail over a fresh connection.
func (m *Mailer) deliver(env envelope, raw []byte) error {
	d, err := m.cfg.dialer()
	if err != nil {
		return dialError{err}
	}
	s, err := d.Dial()
	if err != nil {
		return dialError{fmt.Errorf("smtp %s: %w", m.server(), err)}
	}
	if err := s.Send(env.from, env.to, bytes.NewReader(raw)); err != nil {
		_ = s.Close()
		return fmt.Errorf("smtp %s: %w", m.server(), err)
	}
	// The server has accepted the mail once DATA is answered; a failing QUIT changes nothing.
	_ = s.Close()
	return nil
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
