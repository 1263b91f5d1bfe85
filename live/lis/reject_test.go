package lis

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/live"
	"github.com/imsfeed/imsfeed/store"
)

// TestRejectedRequestsLeaveATrace: a LIS request with a wrong password is a WARN line in serve's
// log naming the username (not the password); one its credentials choose the tenant for but
// which is not SOAP is in the tenant's request log.
func TestRejectedRequestsLeaveATrace(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open)
		var logBuf bytes.Buffer
		e.h.Service.Log = slog.New(slog.NewTextHandler(&logBuf, nil))
		wrong := strings.Replace(lisReq("readPerson", sid("P1")), "<o:Password>ilp-pass&amp;&lt;secret&gt;</o:Password>", "<o:Password>old-pass</o:Password>", 1)
		e.post(wrong).want(t, "wrong password", "failure", live.UnauthorizedRequest)
		if a := e.post(`<Envelope xmlns="urn:not-soap"><Body/></Envelope>`); a.http != 500 || a.fault == "" {
			t.Fatalf("not SOAP: HTTP %d %s", a.http, a.raw)
		}
		log, err := e.st.(store.Live).LiveEntries(context.Background(), store.LiveLogParams{Tenant: e.tenant.ID})
		if err != nil {
			t.Fatal(err)
		}
		if len(log) != 1 || log[0].Dialect != dialect || log[0].CodeMinor != live.SOAPFault || !strings.Contains(log[0].Description, "SOAP") {
			t.Fatalf("tenant's request log: %+v", log)
		}
		out := logBuf.String()
		if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "username="+testUser) || !strings.Contains(out, `reason="wrong password"`) ||
			strings.Contains(out, "old-pass") {
			t.Fatalf("serve's log:\n%s", out)
		}
	})
}
