// Package lis is the IMS LIS 2.0 dialect of the live channel (D2L Brightspace's IPSIS and the
// SIS integrations that speak to it, Ellucian Banner's ILP among them): it reads a SOAP 1.1
// request of the person, group, course and membership management services into a
// live.Request and writes the live.Result back as the answer. The semantics are live's, the
// same as for IMS ES 1.0 (live/imses); this package only translates.
package lis

import (
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/imsfeed/imsfeed/live"
	"github.com/imsfeed/imsfeed/live/soap"
)

// MaxBody is the largest request accepted.
const MaxBody = 16 << 20

// Path is where the endpoint is served.
const Path = "/ims/lis/v2p0"

// Handler answers POST /ims/lis/v2p0 (and GET ?wsdl).
type Handler struct {
	Service *live.Service
	Auth    *live.Auth
	Log     *slog.Logger
	// PublicURL is the listener's address as clients see it (for the WSDL); empty means the
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

// understood: the LIS 2.0 request header (any service's namespace).
func understood(n *soap.Node) bool { return n.Local == "imsx_syncRequestHeaderInfo" }

// ServeHTTP implements http.Handler. Every answer is SOAP: a fault (HTTP 500, as SOAP 1.1
// says) when the request cannot be read as a SOAP request, else an imsx_statusInfo.
func (h *Handler) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	defer soap.Recover(rw, h.log())
	limit := h.MaxBody
	if limit == 0 {
		limit = MaxBody
	}
	env, ok := soap.ReadRequest(rw, r, limit, h.serveWSDL, understood, func(why error) {
		h.Service.Reject(r.Context(), live.Unread(r, h.Auth, dialect, why))
	})
	if !ok {
		return
	}
	var messageID string
	for _, hb := range env.Header {
		if understood(hb) {
			messageID = hb.Child("imsx_messageIdentifier").Str()
		}
	}
	name, ns := opName(env.Body), env.Body.Space()
	answer := func(st live.Status, body func(*w)) {
		rw.Header().Set("Content-Type", "text/xml; charset=utf-8")
		rw.WriteHeader(http.StatusOK)
		_ = envelope(rw, h.now(), ns, messageID, name, st, body)
	}

	addr := soap.ClientAddr(r)
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
		h.Service.Reject(r.Context(), live.Rejected{Dialect: dialect, Operation: name, MessageID: messageID,
			Username: user, Addr: addr, Status: st, Reason: h.Auth.Why(user, pass, env.Digest)})
		answer(st, fixed(emptyBody(name, ns)))
		return
	}
	h.Auth.Succeeded(addr)

	if soap.LooksLike(env) == soap.IMSES {
		sign := "its header syncRequestHeaderInfo"
		if strings.HasSuffix(ns, "ManMessSchema_v1p0") {
			sign = "body namespace " + ns
		}
		st := live.Status{Major: live.Failure, Minor: live.InvalidData,
			Description: "this looks like an IMS ES 1.0 request (" + sign + "); this endpoint, " + Path + ", speaks IMS LIS 2.0: send IMS ES 1.0 requests to /ims/es/v1p0"}
		h.Service.Record(r.Context(), tenant, &live.Request{Dialect: dialect, Operation: name, MessageID: messageID}, st)
		answer(st, fixed(emptyBody(name, ns)))
		return
	}
	op, known := operations[name]
	if !known || op.unsupported != "" {
		desc := "operation " + name + " is not supported by imsfeed"
		if op.unsupported != "" {
			desc += ": " + op.unsupported
		}
		st := live.Status{Major: live.Unsupported, Minor: "unsupportedoperation", Description: desc}
		h.Service.Record(r.Context(), tenant, &live.Request{Dialect: dialect, Operation: name, MessageID: messageID}, st)
		answer(st, fixed(emptyBody(name, ns)))
		return
	}
	req := request(op, env.Body)
	req.MessageID, req.Digest = messageID, env.Body.Digest()
	res := h.Service.Do(r.Context(), tenant, req)
	st := res.First()
	if req.Plural && res.Whole == nil {
		st = summary(res.Statuses)
	}
	answer(st, func(b *w) { responseBody(b, op, ns, res) })
}

// summary is the one status of a plural request (LIS 2.0 answers each request with one):
// success when every item succeeded, else the first failure, with the count.
func summary(st []live.Status) live.Status {
	failed := 0
	var first live.Status
	for _, s := range st {
		if !s.OK() {
			if failed == 0 {
				first = s
			}
			failed++
		}
	}
	if failed == 0 {
		return live.Status{Major: live.Success, Minor: live.FullSuccess}
	}
	if failed < len(st) {
		first.Description = strconv.Itoa(failed) + " of " + strconv.Itoa(len(st)) + " failed; first: " + first.Description
	}
	return first
}
