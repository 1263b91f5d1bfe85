package mailer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"net/textproto"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// DataReplyTimeout is how long the server may take to answer the end of a mail's data: RFC 5321
// §4.5.3.2.6 asks clients for 10 minutes, because a server may do its delivery work (filters,
// virus checks) before it answers. Every other step has SMTPConfig.Timeout. go-mail's one
// deadline for the whole MAIL…DATA…reply exchange gave up on slow servers that then delivered
// the mail anyway, and the retry delivered it again.
const DataReplyTimeout = 10 * time.Minute

// phasedConn gives every read and write its own deadline: the timeout of the step the exchange
// is in. A mail's data may take long to write as a whole; each write must make progress.
type phasedConn struct {
	net.Conn
	wait atomic.Int64 // time.Duration of the current step
}

func (c *phasedConn) setWait(d time.Duration) { c.wait.Store(int64(d)) }

func (c *phasedConn) Read(b []byte) (int, error) {
	_ = c.Conn.SetReadDeadline(time.Now().Add(time.Duration(c.wait.Load())))
	return c.Conn.Read(b)
}

func (c *phasedConn) Write(b []byte) (int, error) {
	_ = c.Conn.SetWriteDeadline(time.Now().Add(time.Duration(c.wait.Load())))
	return c.Conn.Write(b)
}

// refusedError is the server refusing the mail itself with a 5xx reply to MAIL, RCPT or DATA:
// trying again unchanged will not help, so after SMTPConfig.MaxTries such refusals the mail goes
// to the dead-letter folder.
type refusedError struct{ err error }

func (e refusedError) Error() string { return e.err.Error() }
func (e refusedError) Unwrap() error { return e.err }

// unconfirmedError is a connection lost (or a reply that never came) after the server had the
// whole mail: it may have delivered it. Sending it again could deliver it twice.
type unconfirmedError struct{ err error }

func (e unconfirmedError) Error() string { return e.err.Error() }
func (e unconfirmedError) Unwrap() error { return e.err }

// permanent reports whether err is a 5xx SMTP reply.
func permanent(err error) bool {
	var te *textproto.Error
	return errors.As(err, &te) && te.Code >= 500 && te.Code < 600
}

// smtpSession is one authenticated connection to the server.
type smtpSession struct {
	c      *smtp.Client
	conn   *phasedConn
	server string
	wait   time.Duration // the short timeout of every step but the final reply
	final  time.Duration // the wait for the reply to the end of data
}

// dial connects, says EHLO, starts TLS as configured and logs in. Every failure is a dialError:
// the server or the configuration, not one mail.
func (m *Mailer) dial(ctx context.Context) (*smtpSession, error) {
	c := m.cfg
	if err := c.Validate(); err != nil {
		return nil, dialError{err}
	}
	tc, err := c.tlsConfig()
	if err != nil {
		return nil, dialError{err}
	}
	// The password is read now, when it is used, never when the config loads.
	var pass Secret
	if c.Username != "" {
		if pass, err = c.ReadPassword(); err != nil {
			return nil, dialError{err}
		}
	}
	server := m.server()
	fail := func(err error) error { return dialError{fmt.Errorf("smtp %s: %w", server, err)} }
	d := net.Dialer{Timeout: c.timeout()}
	raw, err := d.DialContext(ctx, "tcp", net.JoinHostPort(strings.Trim(c.Host, "[]"), strconv.Itoa(c.port())))
	if err != nil {
		return nil, fail(err)
	}
	pc := &phasedConn{Conn: raw}
	pc.setWait(c.timeout())
	var conn net.Conn = pc
	if c.tlsMode() == TLSImplicit {
		tlsConn := tls.Client(pc, tc)
		if err := tlsConn.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, fail(err)
		}
		conn = tlsConn
	}
	cl, err := smtp.NewClient(conn, strings.Trim(c.Host, "[]"))
	if err != nil {
		raw.Close()
		return nil, fail(err)
	}
	s := &smtpSession{c: cl, conn: pc, server: server, wait: c.timeout(), final: m.dataReply}
	if err := cl.Hello(localName()); err != nil {
		s.close()
		return nil, fail(err)
	}
	if c.tlsMode() == TLSStartTLS {
		if ok, _ := cl.Extension("STARTTLS"); ok {
			if err := cl.StartTLS(tc); err != nil {
				s.close()
				return nil, fail(err)
			}
		} else if !isLoopback(c.Host) {
			s.close()
			return nil, fail(errors.New("the server does not offer STARTTLS, which tls: starttls requires (use tls: implicit if it speaks TLS on connect)"))
		}
	}
	if c.Username != "" {
		if err := cl.Auth(c.auth(pass)); err != nil {
			s.close()
			return nil, fail(err)
		}
	}
	return s, nil
}

// auth picks the mechanism as go-mail did: CRAM-MD5 when offered, LOGIN when offered without
// PLAIN, else PLAIN (which net/smtp refuses over clear text to anything but localhost).
func (c *SMTPConfig) auth(pass Secret) smtp.Auth {
	return &chooseAuth{user: c.Username, pass: pass, host: strings.Trim(c.Host, "[]")}
}

type chooseAuth struct {
	user string
	pass Secret
	host string
	next smtp.Auth
	sent int // LOGIN: how many challenges answered
}

func (a *chooseAuth) Start(server *smtp.ServerInfo) (string, []byte, error) {
	has := func(m string) bool {
		for _, x := range server.Auth {
			if strings.EqualFold(x, m) {
				return true
			}
		}
		return false
	}
	switch {
	case has("CRAM-MD5"):
		a.next = smtp.CRAMMD5Auth(a.user, a.pass.Reveal())
	case has("LOGIN") && !has("PLAIN"):
		if !server.TLS && !isLoopback(a.host) {
			return "", nil, errors.New("unencrypted connection: LOGIN would send the password in clear text")
		}
		return "LOGIN", nil, nil
	default:
		a.next = smtp.PlainAuth("", a.user, a.pass.Reveal(), a.host)
	}
	return a.next.Start(server)
}

func (a *chooseAuth) Next(fromServer []byte, more bool) ([]byte, error) {
	if a.next != nil {
		return a.next.Next(fromServer, more)
	}
	if !more {
		return nil, nil
	}
	a.sent++
	switch a.sent {
	case 1:
		return []byte(a.user), nil
	case 2:
		return []byte(a.pass.Reveal()), nil
	}
	return nil, errors.New("unexpected LOGIN challenge")
}

// send delivers one mail. beforeEnd runs after the data and before the line that ends it: from
// that line on the server may take the mail, so beforeEnd records that durably, and an error
// from it aborts the mail undelivered. It returns the recipients the server refused (the mail
// still went to the others), a refusedError when the server refused the mail, an
// unconfirmedError when no reply came to the end of data, or another error (temporary).
func (s *smtpSession) send(env envelope, raw []byte, beforeEnd func() error) (refused []string, err error) {
	wrap := func(step string, err error) error {
		err = fmt.Errorf("smtp %s: %s: %w", s.server, step, err)
		if permanent(err) {
			return refusedError{err}
		}
		return err
	}
	if err := s.c.Mail(env.from); err != nil {
		return nil, wrap("MAIL FROM", err)
	}
	var lastRefusal error
	for _, to := range env.to {
		if err := s.c.Rcpt(to); err != nil {
			if !permanent(err) {
				return nil, wrap("RCPT TO "+to, err)
			}
			refused = append(refused, to+": "+err.Error())
			lastRefusal = err
		}
	}
	if len(refused) == len(env.to) {
		return refused, refusedError{fmt.Errorf("smtp %s: every recipient refused: %w", s.server, lastRefusal)}
	}
	t := s.c.Text
	id, err := t.Cmd("DATA")
	if err != nil {
		return refused, wrap("DATA", err)
	}
	t.StartResponse(id)
	_, _, err = t.ReadResponse(354)
	t.EndResponse(id)
	if err != nil {
		return refused, wrap("DATA", err)
	}
	w := t.DotWriter()
	if _, err := w.Write(raw); err != nil {
		return refused, wrap("sending the mail", err)
	}
	if err := t.W.Flush(); err != nil {
		return refused, wrap("sending the mail", err)
	}
	if err := beforeEnd(); err != nil {
		return refused, fmt.Errorf("not sent: %w", err) // the server drops a mail whose data never ended
	}
	// From here the server may have the mail: any failure without a reply is "unconfirmed".
	if err := w.Close(); err != nil { // writes the final "." line
		return refused, unconfirmedError{fmt.Errorf("smtp %s: connection lost after the mail was sent, before the server answered: %w", s.server, err)}
	}
	s.conn.setWait(s.final)
	_, _, err = t.ReadResponse(250)
	s.conn.setWait(s.wait)
	var te *textproto.Error
	switch {
	case err == nil:
		return refused, nil
	case errors.As(err, &te):
		return refused, wrap("end of data", err) // a reply: the server did not take the mail
	}
	return refused, unconfirmedError{fmt.Errorf("smtp %s: no answer to the end of the mail within %s: %w", s.server, s.final, err)}
}

// close says QUIT (the mail is the server's once the data was answered; a failing QUIT changes
// nothing) and closes the connection.
func (s *smtpSession) close() {
	_ = s.c.Quit()
	_ = s.c.Close()
}
