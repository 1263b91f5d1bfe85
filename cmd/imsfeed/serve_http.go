package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/console"
	"github.com/imsfeed/imsfeed/importer/ims"
	"github.com/imsfeed/imsfeed/live"
	"github.com/imsfeed/imsfeed/live/imses"
	"github.com/imsfeed/imsfeed/live/lis"
	"github.com/imsfeed/imsfeed/mailer"
)

// startHTTP opens serve's listener when the config has an http block: the live channel at
// /ims/es/v1p0 (IMS ES 1.0) and /ims/lis/v2p0 (IMS LIS 2.0), the operator console at / (its
// "Import now" puts a slot into serve's queue: importNow), /metrics and /healthz. stop shuts it
// down gracefully (requests in progress finish).
func (a *app) startHTTP(ctx context.Context, importNow func(context.Context, string) (time.Time, error)) (stop func(), err error) {
	h := a.cfg.HTTP
	if h == nil {
		return func() {}, nil
	}
	es, lis2, err := a.liveHandlers()
	if err != nil {
		return nil, usageError{err.Error()}
	}
	mux := http.NewServeMux()
	mux.Handle("/ims/es/v1p0", es)
	mux.Handle(lis.Path, lis2)
	con, err := console.New(console.Params{Config: a.cfg, Store: a.store, Importer: a.importer(), Log: a.log, ImportNow: importNow})
	if err != nil {
		return nil, usageError{err.Error()}
	}
	mux.Handle("/", con) // the operator console: sign-in, tenants, runs, held runs
	mux.Handle("GET /metrics", console.Metrics(console.MetricsParams{Config: a.cfg, Store: a.store, MailStats: a.mailer.Stats, Counters: a.counters, Log: a.log}))
	mux.Handle("/healthz", console.Health(a.store, a.log)) // 503 when the store does not answer
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	var certs *certFiles
	if h.TLS != nil {
		// Read now, and again when the files are replaced (a renewal): no restart.
		certs, err = loadCertFiles(h.TLS.CertFile, h.TLS.KeyFile, a.log)
		if err != nil {
			return nil, usagef("http.tls: %v", err)
		}
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: certs.get}
	} else if !h.Loopback() {
		return nil, usagef("http: plain HTTP is only allowed on a loopback address") // Validate said so already
	}
	ln, err := net.Listen("tcp", h.Listen)
	if err != nil {
		if certs != nil {
			certs.close()
		}
		return nil, fmt.Errorf("http.listen %s: %w", h.Listen, err)
	}
	scheme := "https"
	if h.TLS != nil {
		ln = tls.NewListener(ln, srv.TLSConfig)
	} else {
		scheme = "http"
	}
	a.log.Info("listening", "url", scheme+"://"+ln.Addr().String(), "live", "/ims/es/v1p0 "+lis.Path, "console", "/", "operators", len(a.cfg.Operators))
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("http listener", "err", err)
		}
	}()
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-done
		if certs != nil {
			certs.close()
		}
	}, nil
}

// liveHandlers builds the IMS ES 1.0 and LIS 2.0 endpoints from the tenants' es credentials:
// one service (lock, log, idempotency, safety filter) and one credential check for both, kept
// as the password files say now (liveAuth).
func (a *app) liveHandlers() (es, lis2 http.Handler, err error) {
	var tenants []*esTenant
	for i := range a.cfg.Tenants {
		t := &a.cfg.Tenants[i]
		if t.ES == nil {
			continue
		}
		lt, err := liveTenant(t)
		if err != nil {
			return nil, nil, err
		}
		tenants = append(tenants, &esTenant{cfg: t, live: lt})
	}
	if len(tenants) == 0 {
		a.log.Warn("http: no tenant has es credentials; every live request will be refused")
	}
	svc := &live.Service{Store: a.store, Log: a.log, OnRefusal: a.liveRefused}
	if a.counters != nil {
		svc.OnRequest = a.counters.Live
	}
	auth := newLiveAuth(a.log, tenants, func(auth *live.Auth) (http.Handler, http.Handler) {
		return &imses.Handler{Service: svc, Auth: auth, Log: a.log, PublicURL: a.cfg.HTTP.PublicURL},
			&lis.Handler{Service: svc, Auth: auth, Log: a.log, PublicURL: a.cfg.HTTP.PublicURL}
	})
	return auth.es(), auth.lis(), nil
}

func liveTenant(t *config.Tenant) (*live.Tenant, error) {
	m, err := ims.NewMapper(t.ReaderMappings())
	if err != nil {
		return nil, fmt.Errorf("tenant %s: mappings: %w", t.ID, err)
	}
	return &live.Tenant{ID: t.ID, Courses: t.Courses, Safety: t.Safety, Mapper: m, Placement: t.Placement}, nil
}

// liveRefused logs a refusal by the live safety filter and mails the tenant's subscribers the
// first one of a window, and the first after an allowance that was too small (the SIS retries;
// one mail says what is wrong and the allowance that lifts it).
func (a *app) liveRefused(tenant string, r live.Refusal) {
	var names []string
	for _, tr := range r.Trips {
		names = append(names, tr.String())
	}
	a.log.Warn("live request refused by the safety filter", "tenant", tenant, "limits", names, "removes", r.Removes,
		"removed_24h", r.Done, "allowed", r.Allowed, "allowance_needed", r.Need, "mailed", r.First)
	if !r.First {
		return
	}
	t, err := a.cfg.Tenant(tenant)
	if err != nil {
		return
	}
	allowance := "No allowance was granted in the last 24 hours."
	if r.Allowed > 0 {
		allowance = fmt.Sprintf("Allowances of %d were granted in the last 24 hours; %d of them were left\nbefore this request: too few for it.", r.Allowed, r.Left)
	}
	text := fmt.Sprintf(`The live channel (IMS ES 1.0 or LIS 2.0) of tenant %s refused a request whole:
its removals within the last 24 hours would cross the tenant's deletes limits:

  %s

The request would remove %s.
Live requests removed %s in the last 24 hours.
%s

Nothing of that request was applied. Further refusals in the next 24 hours are
not mailed again unless an allowance is granted and proves too small; the
request log shows them:

  imsfeed es log --tenant %s

If the removals are intended (a school closing, say), allow them once (an
allowance counts persons, groups and memberships together; %d lets this
request through):

  imsfeed es allow --tenant %s --deletes %d --by NAME --reason TEXT
`, t.ID, strings.Join(names, "\n  "), live.Counted(r.Removes), live.Counted(r.Done), allowance, t.ID, r.Need, t.ID, r.Need)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if _, err := a.mailer.SendNotice(ctx, mailTenant(t), "live-refused", "live request REFUSED ("+strings.Join(names, "; ")+")", text); err != nil {
			a.log.Error("live refusal mail", "tenant", t.ID, "err", err)
		}
	}()
}

func mailTenant(t *config.Tenant) mailer.Tenant {
	return mailer.Tenant{ID: t.ID, Name: t.Name, Subscribers: t.Subscribers, Location: t.Location()}
}
