// Package imses is the IMS Enterprise Services 1.0 dialect of the live channel (as itslearning
// and the Nordic SIS vendors speak it): it reads a SOAP 1.1 request into a live.Request and
// writes the live.Result back as the answer. The semantics are live's.
package imses

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/imsfeed/imsfeed/live"
)

// MaxBody is the largest request accepted (a createPersons of a few thousand persons).
const MaxBody = 16 << 20

// Handler answers POST /ims/es/v1p0 (and GET ?wsdl).
type Handler struct {
	Service *live.Service
	Auth    *live.Auth
	// Tenant is the live view of an authenticated tenant's configuration.
	Log *slog.Logger
	// PublicURL is the endpoint's address as clients see it (for the WSDL); empty means the
	// request's own host.
	PublicURL string
	// MaxBody overrides MaxBody (tests).
	MaxBody int64
	Now     func() time.Time
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *Handler) log() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.New(slog.DiscardHandler)
}

func writeXML(rw http.ResponseWriter, status int, body []byte) {
	rw.Header().Set("Content-Type", "text/xml; charset=utf-8")
	rw.WriteHeader(status)
	_, _ = rw.Write(body)
}

// ServeHTTP implements http.Handler. Every answer is SOAP: a fault (HTTP 500, as SOAP 1.1
// says) when the request cannot be read as a SOAP request, else an IMS status.
func (h *Handler) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			h.log().Error("live request panicked", "panic", v)
			writeXML(rw, http.StatusInternalServerError, fault("Server", "internal error; nothing was changed"))
		}
	}()
	if r.Method == http.MethodGet {
		if _, ok := r.URL.Query()["wsdl"]; ok {
			h.serveWSDL(rw, r)
			return
		}
		writeXML(rw, http.StatusMethodNotAllowed, fault("Client", "send SOAP requests with POST; GET ?wsdl gives the WSDL"))
		return
	}
	if r.Method != http.MethodPost {
		writeXML(rw, http.StatusMethodNotAllowed, fault("Client", "send SOAP requests with POST"))
		return
	}
	limit := h.MaxBody
	if limit == 0 {
		limit = MaxBody
	}
	body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeXML(rw, http.StatusRequestEntityTooLarge, fault("Client", "request body over the size limit; send fewer objects per request"))
			return
		}
		writeXML(rw, http.StatusBadRequest, fault("Client", "could not read the request body"))
		return
	}
	env, ferr := readEnvelope(body)
	if ferr != nil {
		writeXML(rw, http.StatusInternalServerError, fault(ferr.code, ferr.msg))
		return
	}

	addr := clientAddr(r)
	user, pass := env.username, env.password
	if !env.hasToken {
		if u, p, ok := r.BasicAuth(); ok {
			user, pass = u, p
		}
	}
	tenant, ok := h.Auth.Check(user, pass)
	if !ok || env.digest {
		if d := h.Auth.Failed(addr); d > 0 {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		h.log().Warn("live request not authorised", "addr", addr, "operation", env.op)
		st := live.Status{Major: live.Failure, Minor: live.UnauthorizedRequest, Description: "the request is not authorised"}
		writeXML(rw, http.StatusOK, envelope(h.now(), env.messageID, []live.Status{st}, false, emptyBody(env)))
		return
	}
	h.Auth.Succeeded(addr)

	op, known := operations[env.op]
	if !known {
		st := live.Status{Major: live.Unsupported, Minor: "unsupportedoperation", Description: "operation " + env.op + " is not supported by imsfeed"}
		h.Service.Record(r.Context(), tenant, &live.Request{Dialect: "imses1", Operation: env.op, MessageID: env.messageID}, st)
		writeXML(rw, http.StatusOK, envelope(h.now(), env.messageID, []live.Status{st}, false, emptyBody(env)))
		return
	}
	req := request(op, env.body)
	req.MessageID = env.messageID
	res := h.Service.Do(r.Context(), tenant, req)
	statuses := res.Statuses
	plural := op.plural && op.action != live.ReadForPerson && op.action != live.ReadForGroup
	if !plural || res.Whole != nil && len(statuses) == 0 {
		statuses = []live.Status{res.First()}
	}
	if res.Whole != nil && plural {
		statuses = []live.Status{*res.Whole}
	}
	writeXML(rw, http.StatusOK, envelope(h.now(), env.messageID, statuses, plural && res.Whole == nil, responseBody(op, req, res)))
}

func emptyBody(env *envelope_) string {
	name := env.op + "Response"
	ns := env.opNS
	if ns == "" {
		return ""
	}
	return `<` + name + ` xmlns="` + esc(ns) + `"/>`
}

// clientAddr is the peer's IP address (the port changes per connection).
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// envelope_ is what the SOAP envelope of a request says.
type envelope_ struct {
	messageID          string
	username, password string
	hasToken, digest   bool
	op, opNS           string // the body element's local name without "Request", and namespace
	body               *node
}

type faultErr struct{ code, msg string }

// understood are the header blocks imsfeed processes; any other with mustUnderstand="1" is a
// MustUnderstand fault.
func understood(n *node) bool {
	return (n.Space == nsWSSE && n.Local == "Security") || (n.Local == "syncRequestHeaderInfo")
}

func readEnvelope(body []byte) (*envelope_, *faultErr) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, &faultErr{"Client", "empty request: send a SOAP 1.1 envelope"}
	}
	root, err := parse(bytes.NewReader(body))
	if err != nil {
		var ref errRefused
		if errors.As(err, &ref) {
			return nil, &faultErr{"Client", "request refused: " + ref.Msg}
		}
		return nil, &faultErr{"Client", "the request is not well-formed XML: " + err.Error()}
	}
	if root.Local != "Envelope" {
		return nil, &faultErr{"Client", "the request is not a SOAP envelope (root element <" + root.Local + ">)"}
	}
	if root.Space == nsSOAP12 {
		return nil, &faultErr{"VersionMismatch", "SOAP 1.2 is not supported: send SOAP 1.1"}
	}
	if root.Space != nsSOAP {
		return nil, &faultErr{"VersionMismatch", "the envelope's namespace is not SOAP 1.1's (" + nsSOAP + ")"}
	}
	env := &envelope_{}
	for _, hb := range kidsOrNil(root.Child("Header")) {
		if mu, ok := hb.Attr(nsSOAP, "mustUnderstand"); ok && (strings.TrimSpace(mu) == "1" || strings.TrimSpace(mu) == "true") && !understood(hb) {
			return nil, &faultErr{"MustUnderstand", "header " + hb.Local + " (" + hb.Space + ") is not understood"}
		}
		switch {
		case hb.Local == "syncRequestHeaderInfo":
			env.messageID = hb.Child("messageIdentifier").Str()
		case hb.Local == "Security" && hb.Space == nsWSSE:
			tok := hb.Child("UsernameToken")
			if tok != nil {
				env.hasToken = true
				env.username = tok.Child("Username").Str()
				pw := tok.Child("Password")
				if pw != nil {
					env.password = pw.Text
					if t, ok := pw.Attr("", "Type"); ok && strings.TrimSpace(t) != "" && strings.TrimSpace(t) != pwText {
						env.digest = true // only PasswordText is supported: a digest never matches
					}
				}
			}
		}
	}
	b := root.Child("Body")
	if b == nil {
		return nil, &faultErr{"Client", "the envelope has no Body"}
	}
	if len(b.Kids) == 0 {
		return nil, &faultErr{"Client", "the Body holds no request element"}
	}
	el := b.Kids[0]
	env.op = strings.TrimSuffix(el.Local, "Request")
	env.opNS = el.Space
	env.body = el
	return env, nil
}

// kidsOrNil is n's children, none when n is nil (a request without the element).
func kidsOrNil(n *node) []*node {
	if n == nil {
		return nil
	}
	return n.Kids
}
