// Package imses is the IMS Enterprise Services 1.0 dialect of the live channel (as itslearning
// and the Nordic SIS vendors speak it): it reads a SOAP 1.1 request into a live.Request and
// writes the live.Result back as the answer. The semantics are live's.
package imses

import (
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/imsfeed/imsfeed/live"
	livesoap "github.com/imsfeed/imsfeed/live/soap"
)

// dialect names IMS ES 1.0 in the request log.
const dialect = "imses1"

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

// ServeHTTP implements http.Handler. Every answer is SOAP: a fault (HTTP 500, as SOAP 1.1
// says) when the request cannot be read as a SOAP request, else an IMS status.
func (h *Handler) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	defer livesoap.Recover(rw, h.log())
	limit := h.MaxBody
	if limit == 0 {
		limit = MaxBody
	}
	e, ok := livesoap.ReadRequest(rw, r, limit, h.serveWSDL, understood, func(why error) {
		h.Service.Reject(r.Context(), live.Unread(r, h.Auth, dialect, why))
	})
	if !ok {
		return
	}
	env := dialectEnvelope(e)

	addr := livesoap.ClientAddr(r)
	user, pass := env.Username, env.Password
	if !env.HasToken {
		if u, p, ok := r.BasicAuth(); ok {
			user, pass = u, p
		}
	}
	tenant, ok := h.Auth.Check(user, pass)
	if !ok || env.Digest {
		if d := h.Auth.Failed(addr); d > 0 {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		st := live.Status{Major: live.Failure, Minor: live.UnauthorizedRequest, Description: "the request is not authorised"}
		h.Service.Reject(r.Context(), live.Rejected{Dialect: dialect, Operation: env.op, MessageID: env.messageID,
			Username: user, Addr: addr, Status: st, Reason: h.Auth.Why(user, pass, env.Digest)})
		writeAnswer(rw, h.now(), env.messageID, []live.Status{st}, false, fixed(emptyBody(env)))
		return
	}
	h.Auth.Succeeded(addr)

	if livesoap.LooksLike(env.Envelope) == livesoap.LIS {
		st := live.Status{Major: live.Failure, Minor: live.InvalidData,
			Description: "this looks like an IMS LIS 2.0 request (" + lisSign(env) + "); this endpoint, /ims/es/v1p0, speaks IMS ES 1.0: send LIS 2.0 requests to /ims/lis/v2p0"}
		h.Service.Record(r.Context(), tenant, &live.Request{Dialect: dialect, Operation: env.op, MessageID: env.messageID}, st)
		writeAnswer(rw, h.now(), env.messageID, []live.Status{st}, false, fixed(emptyBody(env)))
		return
	}
	op, known := operations[env.op]
	if !known {
		st := live.Status{Major: live.Unsupported, Minor: "unsupportedoperation", Description: "operation " + env.op + " is not supported by imsfeed"}
		h.Service.Record(r.Context(), tenant, &live.Request{Dialect: dialect, Operation: env.op, MessageID: env.messageID}, st)
		writeAnswer(rw, h.now(), env.messageID, []live.Status{st}, false, fixed(emptyBody(env)))
		return
	}
	// env is not used past here: the request's tree (several times the request's size) is let
	// go once its records are read, not held while they are applied and answered.
	messageID, digest := env.messageID, env.body.Digest()
	req := request(op, env.body) // takes the tree apart
	req.MessageID, req.Digest = messageID, digest
	res := h.Service.Do(r.Context(), tenant, req)
	statuses := res.Statuses
	plural := op.plural && op.action != live.ReadForPerson && op.action != live.ReadForGroup
	if !plural || res.Whole != nil && len(statuses) == 0 {
		statuses = []live.Status{res.First()}
	}
	if res.Whole != nil && plural {
		statuses = []live.Status{*res.Whole}
	}
	writeAnswer(rw, h.now(), messageID, statuses, plural && res.Whole == nil, func(b *w) { responseBody(b, op, res) })
}

func emptyBody(env *envelope_) string {
	name := env.op + "Response"
	ns := env.opNS
	if ns == "" {
		return ""
	}
	return `<` + name + ` xmlns="` + esc(ns) + `"/>`
}

// envelope_ is what the SOAP envelope of a request says: live/soap's reading of it, with the
// IMS ES header's message identifier and the operation.
type envelope_ struct {
	*livesoap.Envelope
	messageID string
	op, opNS  string // the body element's local name without "Request", and namespace
	body      *node
}

// understood: the IMS ES request header (WS-Security is live/soap's).
func understood(n *node) bool { return n.Local == "syncRequestHeaderInfo" }

func readEnvelope(body []byte) (*envelope_, *livesoap.Fault) {
	e, ferr := livesoap.ReadEnvelope(body, understood)
	if ferr != nil {
		return nil, ferr
	}
	return dialectEnvelope(e), nil
}

// dialectEnvelope is what e says in IMS ES terms.
func dialectEnvelope(e *livesoap.Envelope) *envelope_ {
	env := &envelope_{Envelope: e, body: e.Body, op: strings.TrimSuffix(e.Body.Local, "Request"), opNS: e.Body.Space()}
	for _, hb := range e.Header {
		if understood(hb) {
			env.messageID = hb.Child("messageIdentifier").Str()
		}
	}
	return env
}

// lisSign names what makes a request look like LIS 2.0, for the answer.
func lisSign(env *envelope_) string {
	if strings.Contains(env.opNS, "/services/lis/") {
		return "body namespace " + env.opNS
	}
	return "its imsx_ header or its *Record elements"
}
