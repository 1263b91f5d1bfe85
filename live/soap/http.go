package soap

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"unicode/utf8"
)

// What both dialects' endpoints do around reading a request and answering it.

// WriteXML answers with an XML body.
func WriteXML(rw http.ResponseWriter, status int, body []byte) {
	rw.Header().Set("Content-Type", "text/xml; charset=utf-8")
	rw.WriteHeader(status)
	_, _ = rw.Write(body)
}

// Recover, deferred by a handler, answers a panic with a SOAP fault (nothing was changed: a
// request is applied in one transaction) and logs it.
func Recover(rw http.ResponseWriter, log *slog.Logger) {
	if v := recover(); v != nil {
		log.Error("live request panicked", "panic", v)
		WriteXML(rw, http.StatusInternalServerError, FaultXML("Server", "internal error; nothing was changed"))
	}
}

// ErrTooLarge is ReadRequest's answer to a body over the limit (answered HTTP 413).
var ErrTooLarge = errors.New("request body too large")

// ReadRequest answers GET ?wsdl with wsdl and refuses other methods than POST, then reads the
// POSTed body, up to limit bytes, as a SOAP envelope (ReadEnvelope). It returns false when it
// has answered the request itself: a body it could not read (ErrTooLarge, or another error) or
// not a SOAP request (a *Fault) it tells unread of first, for the dialect to log.
//
// The envelope is read as the body arrives, never held whole beside its tree: a request near
// the limit is many times its size as a tree. The answers are those of reading it whole first:
// a body over the limit is refused as that whatever it holds.
func ReadRequest(rw http.ResponseWriter, r *http.Request, limit int64, wsdl func(http.ResponseWriter, *http.Request),
	understood func(*Node) bool, unread func(error)) (*Envelope, bool) {
	if r.Method == http.MethodGet {
		if _, ok := r.URL.Query()["wsdl"]; ok {
			wsdl(rw, r)
			return nil, false
		}
		WriteXML(rw, http.StatusMethodNotAllowed, FaultXML("Client", "send SOAP requests with POST; GET ?wsdl gives the WSDL"))
		return nil, false
	}
	if r.Method != http.MethodPost {
		WriteXML(rw, http.StatusMethodNotAllowed, FaultXML("Client", "send SOAP requests with POST"))
		return nil, false
	}
	body := &bodyReader{r: http.MaxBytesReader(rw, r.Body, limit), blank: true}
	env, ferr := readEnvelope(body, understood, body.isBlank)
	if ferr != nil {
		_, _ = io.Copy(io.Discard, body) // the rest, to tell a body over the limit
	}
	if err := body.err; err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			over := "over the " + size(limit) + " limit"
			unread(fmt.Errorf("%w: %s", ErrTooLarge, over))
			WriteXML(rw, http.StatusRequestEntityTooLarge, FaultXML("Client", "request body "+over+"; send fewer objects per request"))
			return nil, false
		}
		unread(fmt.Errorf("could not read the request body: %w", err))
		WriteXML(rw, http.StatusBadRequest, FaultXML("Client", "could not read the request body"))
		return nil, false
	}
	if ferr != nil {
		unread(ferr)
		WriteXML(rw, http.StatusInternalServerError, FaultXML(ferr.Code, ferr.Msg))
		return nil, false
	}
	return env, true
}

// bodyReader is a request body being read: the first error reading it (io.EOF aside), and
// whether it held only white space (as bytes.TrimSpace has it) so far.
type bodyReader struct {
	r     io.Reader
	err   error
	blank bool
	tail  []byte // an incomplete UTF-8 sequence at the end of what was read, while blank
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if b.blank && n > 0 {
		chunk := append(b.tail, p[:n]...)
		cut := len(chunk)
		// A white-space rune may be split between two reads: its start waits for the rest.
		for i := len(chunk) - 1; i >= 0 && i >= len(chunk)-utf8.UTFMax; i-- {
			if utf8.RuneStart(chunk[i]) {
				if !utf8.FullRune(chunk[i:]) {
					cut = i
				}
				break
			}
		}
		b.blank = len(bytes.TrimSpace(chunk[:cut])) == 0
		b.tail = append(b.tail[:0], chunk[cut:]...)
	}
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

func (b *bodyReader) isBlank() bool { return b.blank && len(bytes.TrimSpace(b.tail)) == 0 }

// size says a byte count as an operator configures it: 16 MiB.
func size(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// ClientAddr is the peer's IP address (the port changes per connection).
func ClientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// ServeWSDL answers GET ?wsdl with doc, its placeholder ADDRESS the endpoint's address at
// path: publicURL (the listener as clients see it) or else the request's own host.
func ServeWSDL(rw http.ResponseWriter, r *http.Request, publicURL, path, doc string) {
	addr := publicURL
	if addr == "" {
		scheme := "https"
		if r.TLS == nil {
			scheme = "http"
		}
		addr = scheme + "://" + r.Host
	}
	addr = strings.TrimSuffix(addr, "/") + path
	rw.Header().Set("Content-Type", "text/xml; charset=utf-8")
	_, _ = rw.Write([]byte(strings.ReplaceAll(doc, "ADDRESS", Esc(addr))))
}
