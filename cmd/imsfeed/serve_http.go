package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/live"
	"github.com/imsfeed/imsfeed/live/imses"
	"github.com/imsfeed/imsfeed/safety"
)

// startHTTP opens serve's listener when the config has an http block: the live channel at
// /ims/es/v1p0 and /healthz. stop shuts it down gracefully (requests in progress finish).
func (a *app) startHTTP(ctx context.Context) (stop func(), err error) {
	h := a.cfg.HTTP
	if h == nil {
		return func() {}, nil
	}
	handler, err := a.liveHandler()
	if err != nil {
		return nil, usageError{err.Error()}
	}
	mux := http.NewServeMux()
	mux.Handle("/ims/es/v1p0", handler)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	var cert tls.Certificate
	if h.TLS != nil {
		cert, err = tls.LoadX509KeyPair(h.TLS.CertFile, h.TLS.KeyFile)
		if err != nil {
			return nil, usagef("http.tls: %v", err)
		}
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	} else if !h.Loopback() {
		return nil, usagef("http: plain HTTP is only allowed on a loopback address") // Validate said so already
	}
	ln, err := net.Listen("tcp", h.Listen)
	if err != nil {
		return nil, fmt.Errorf("http.listen %s: %w", h.Listen, err)
	}
	scheme := "https"
	if h.TLS != nil {
		ln = tls.NewListener(ln, srv.TLSConfig)
	} else {
		scheme = "http"
	}
	a.log.Info("listening", "url", scheme+"://"+ln.Addr().String(), "live", "/ims/es/v1p0")
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
	}, nil
}

// liveHandler builds the IMS ES endpoint from the tenants' es credentials.
func (a *app) liveHandler() (http.Handler, error) {
	var creds []live.Credential
	for i := range a.cfg.Tenants {
		t := &a.cfg.Tenants[i]
		if t.ES == nil {
			continue
		}
		pw, err := t.ESPassword()
		if err != nil {
			return nil, err
		}
		creds = append(creds, live.Credential{Username: t.ES.Username, Password: pw, Tenant: liveTenant(t)})
	}
	if len(creds) == 0 {
		a.log.Warn("http: no tenant has es credentials; every live request will be refused")
	}
	svc := &live.Service{Store: a.store, Log: a.log, OnRefusal: a.liveRefused}
	return &imses.Handler{Service: svc, Auth: live.NewAuth(creds), Log: a.log, PublicURL: a.cfg.HTTP.PublicURL}, nil
}

func liveTenant(t *config.Tenant) *live.Tenant {
	return &live.Tenant{ID: t.ID, Courses: t.Courses, Safety: t.Safety}
}

// liveRefused logs a refusal by the live safety filter.
// TODO(live): mail the tenant's subscribers on the first refusal of a window.
func (a *app) liveRefused(tenant string, trips []safety.Trip, first bool) {
	var names []string
	for _, tr := range trips {
		names = append(names, tr.String())
	}
	a.log.Warn("live request refused by the safety filter", "tenant", tenant, "limits", names, "first_in_window", first)
}
