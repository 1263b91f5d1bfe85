package live

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/imsfeed/imsfeed/live/soap"

	"github.com/imsfeed/imsfeed/store"
)

// Codes of requests answered before they reached a tenant's state (logged; not IMS codes).
const (
	// SOAPFault: the body is not a SOAP request the dialect reads (answered with a fault).
	SOAPFault = "soapfault"
	// TooLarge: the body is over the size limit (answered HTTP 413).
	TooLarge = "requesttoolarge"
)

// Rejected is a request the dialect answered before it could be run: not authorised, not
// readable as a SOAP request, or over the size limit.
type Rejected struct {
	Dialect, Operation, MessageID string
	// Tenant is the tenant the request's credentials chose; nil when they chose none.
	Tenant *Tenant
	// Username is the username as sent (never the password) and Addr the client's address,
	// for serve's log when Tenant is nil.
	Username, Addr string
	// Status is what the request was answered (or, for a fault, what the log says of it).
	Status Status
	// Reason is why, for serve's log, when it says more than Status (which part of the
	// credentials was wrong, which the answer does not tell).
	Reason string
}

// Reject logs a rejected request so that an operator looking for a request that "was sent
// but never arrived" finds it: in the tenant's request log (es log, the console, metrics) when
// its credentials chose a tenant, else as a WARN line in serve's log with the username as sent,
// the address and the reason (only the operator reads it: anyone can send a request, and the
// tenant's log is not theirs to fill). Either way it is counted for /metrics.
func (s *Service) Reject(ctx context.Context, r Rejected) {
	req := &Request{Dialect: r.Dialect, Operation: r.Operation, MessageID: r.MessageID}
	if r.Tenant != nil {
		s.Record(ctx, r.Tenant, req, r.Status)
		return
	}
	reason := r.Reason
	if reason == "" {
		reason = r.Status.Description
	}
	s.logger().Warn("live request rejected", "dialect", r.Dialect, "operation", clip(r.Operation), "username", clip(r.Username),
		"addr", r.Addr, "code", r.Status.Minor, "reason", reason)
	// Counted without the operation: anyone may send any element name, and each would be a
	// series of its own in /metrics.
	now := s.now()
	e := &store.LiveEntry{At: now, Dialect: r.Dialect}
	e.CodeMajor, e.CodeMinor, e.Description = r.Status.Major, r.Status.Minor, r.Status.Description
	s.told(e, nil, now)
}

// Unread is the rejection of a request whose body could not be read (why: the error, a
// *soap.Fault or soap.ErrTooLarge): its tenant is the one its HTTP Basic credentials choose, if
// any (WS-Security credentials are in the body that was not read).
func Unread(r *http.Request, a *Auth, dialect string, why error) Rejected {
	rej := Rejected{Dialect: dialect, Addr: soap.ClientAddr(r)}
	if u, p, ok := r.BasicAuth(); ok {
		rej.Username = u
		rej.Tenant, _ = a.Check(u, p)
	}
	var fault *soap.Fault
	switch {
	case errors.As(why, &fault):
		rej.Status = Status{Major: Failure, Minor: SOAPFault, Description: fmt.Sprintf("not a SOAP request imsfeed reads (answered with a %s fault; nothing was changed): %s", fault.Code, fault.Msg)}
	case errors.Is(why, soap.ErrTooLarge):
		rej.Status = Status{Major: Failure, Minor: TooLarge, Description: "answered HTTP 413, nothing was changed: " + why.Error()}
	default:
		rej.Status = Status{Major: Failure, Minor: SOAPFault, Description: why.Error()}
	}
	return rej
}

// clip keeps a client's string short in serve's log.
func clip(s string) string {
	if r := []rune(s); len(r) > 64 {
		return string(r[:64]) + "…"
	}
	return s
}
