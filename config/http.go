package config

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// HTTP is imsfeed serve's listener: the live channel (and later the console). TLS is required
// unless the listen address is a loopback one (behind a TLS-terminating proxy).
type HTTP struct {
	// Listen is host:port, e.g. ":8443" or "127.0.0.1:8080".
	Listen string `yaml:"listen"`
	TLS    *TLS   `yaml:"tls"`
	// PublicURL is the address clients use (https://sis.example.org), for the WSDL.
	PublicURL string `yaml:"public_url"`
	// Console holds the operator console's sign-in by proxy header.
	Console *Console `yaml:"console"`
}

// TLS names the listener's certificate chain and key (PEM files).
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// ES is a tenant's live-channel credentials: the username and password its SIS sends on every
// call, which choose the tenant.
type ES struct {
	Username string `yaml:"username"`
	// PasswordFile holds the password; else $IMSFEED_<TENANT>_ES_PASSWORD.
	PasswordFile string `yaml:"password_file"`
}

// Loopback reports whether the listen address only takes connections from this machine.
func (h *HTTP) Loopback() bool {
	host, _, err := net.SplitHostPort(h.Listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (h *HTTP) validate() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if _, _, err := net.SplitHostPort(h.Listen); err != nil {
		bad("http.listen: %q is not host:port (e.g. \":8443\" or \"127.0.0.1:8080\")", h.Listen)
		return errs
	}
	switch {
	case h.TLS == nil && !h.Loopback():
		bad("http: listening on %q without tls: plain HTTP is only allowed on a loopback address (127.0.0.1, ::1, localhost) behind a TLS-terminating proxy; set http.tls.cert_file and key_file", h.Listen)
	case h.TLS != nil && (h.TLS.CertFile == "" || h.TLS.KeyFile == ""):
		bad("http.tls: both cert_file and key_file are required")
	}
	if h.PublicURL != "" {
		if u, err := url.Parse(h.PublicURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad("http.public_url: %q is not an http(s) URL", h.PublicURL)
		}
	}
	return errs
}

// ESPassword reads the tenant's live-channel password from es.password_file or
// $IMSFEED_<TENANT>_ES_PASSWORD.
func (t *Tenant) ESPassword() (string, error) {
	if t.ES == nil {
		return "", nil
	}
	env := "IMSFEED_" + strings.ToUpper(strings.NewReplacer("-", "_").Replace(t.ID)) + "_ES_PASSWORD"
	pw, err := secret(t.ES.PasswordFile, env)
	if err != nil {
		return "", fmt.Errorf("tenant %s: es.password_file: %w", t.ID, err)
	}
	switch {
	case pw == "" && t.ES.PasswordFile != "":
		return "", fmt.Errorf("tenant %s: es.password_file %s is empty", t.ID, t.ES.PasswordFile)
	case pw == "":
		return "", fmt.Errorf("tenant %s: es: no password (set es.password_file or $%s)", t.ID, env)
	}
	return pw, nil
}

// LiveOnly reports whether the tenant is fed only by the live channel: it has es credentials
// and no source to fetch a nightly file from. Its schedule is its daily live digest.
func (t *Tenant) LiveOnly() bool { return t.ES != nil && t.Source.URL == "" }

func validateES(c *Config) []error {
	var errs []error
	users := map[string]string{}
	for _, t := range c.Tenants {
		if t.ES == nil {
			continue
		}
		if t.ES.Username == "" {
			errs = append(errs, fmt.Errorf("tenant %s: es.username is required", t.ID))
			continue
		}
		if other, ok := users[t.ES.Username]; ok {
			errs = append(errs, fmt.Errorf("tenant %s: es.username is also tenant %s's: the username chooses the tenant", t.ID, other))
		}
		users[t.ES.Username] = t.ID
	}
	if c.HTTP != nil {
		errs = append(errs, c.HTTP.validate()...)
	}
	return errs
}
