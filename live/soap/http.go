package soap

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
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

// ErrTooLarge is ReadBody's answer to a body over the limit (answered HTTP 413).
var ErrTooLarge = errors.New("request body too large")

// ReadBody answers GET ?wsdl with wsdl and refuses other methods than POST, then reads the
// request body up to limit bytes. It returns false when it has answered the request itself;
// a POSTed body it could not read (ErrTooLarge, or another error) it tells unread of first, for
// the dialect to log.
func ReadBody(rw http.ResponseWriter, r *http.Request, limit int64, wsdl func(http.ResponseWriter, *http.Request), unread func(error)) ([]byte, bool) {
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
	body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, limit))
	if err != nil {
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
	return body, true
}

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
