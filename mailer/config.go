package mailer

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"os"
	"strings"
	"time"
)

// TLS modes of SMTPConfig.TLS.
const (
	TLSStartTLS = "starttls" // the default: mandatory unless the host is loopback
	TLSImplicit = "implicit" // TLS from the first byte (port 465)
	TLSNone     = "none"     // clear text, allowed only on loopback
)

// PasswordEnv is the environment variable that holds the SMTP password when no password_file
// is configured.
const PasswordEnv = "IMSFEED_SMTP_PASSWORD"

// SMTPConfig says how to reach the mail server. The config loader embeds it; Password never
// comes from the YAML file itself (see LoadPassword).
type SMTPConfig struct {
	Host         string        `yaml:"host"`
	Port         int           `yaml:"port"` // default 587 (465 for implicit, 25 for none)
	TLS          string        `yaml:"tls"`  // starttls (default), implicit or none
	Username     string        `yaml:"username"`
	Password     Secret        `yaml:"-"`
	PasswordFile string        `yaml:"password_file"`
	From         string        `yaml:"from"`
	Operators    []string      `yaml:"operators"` // copied on every mail
	Timeout      time.Duration `yaml:"timeout"`   // default 30s, per step (not the final reply to DATA)
	CAFile       string        `yaml:"ca_file"`   // extra CA for the server's certificate
	// MaxTries is how many times the server may refuse a mail (a 5xx reply to MAIL, RCPT or
	// DATA) before it goes to the dead-letter folder; default 3.
	MaxTries int `yaml:"max_tries"`
}

// LoadPassword fills Password from PasswordFile, else from $IMSFEED_SMTP_PASSWORD (see
// ReadPassword).
func (c *SMTPConfig) LoadPassword() error {
	pw, err := c.ReadPassword()
	if err != nil {
		return err
	}
	c.Password = pw
	return nil
}

// ReadPassword returns Password when set, else the content of PasswordFile, else
// $IMSFEED_SMTP_PASSWORD. The mailer calls it when it connects, not when the config loads: a
// command that sends no mail (`runs`, `status`) never needs the secret, nor the right to read
// it. A trailing newline in the file is dropped. Errors name the file, never its content.
func (c *SMTPConfig) ReadPassword() (Secret, error) {
	if c.Password != "" {
		return c.Password, nil
	}
	if c.PasswordFile != "" {
		b, err := os.ReadFile(c.PasswordFile)
		if err != nil {
			return "", fmt.Errorf("smtp.password_file: %w", err)
		}
		return Secret(strings.TrimRight(string(b), "\r\n")), nil
	}
	return Secret(os.Getenv(PasswordEnv)), nil
}

// hasPassword says whether a password is configured, without reading it.
func (c *SMTPConfig) hasPassword() bool {
	return c.Password != "" || c.PasswordFile != "" || os.Getenv(PasswordEnv) != ""
}

// tlsMode is the configured mode with the default applied.
func (c *SMTPConfig) tlsMode() string {
	if c.TLS == "" {
		return TLSStartTLS
	}
	return strings.ToLower(c.TLS)
}

func (c *SMTPConfig) port() int {
	if c.Port != 0 {
		return c.Port
	}
	switch c.tlsMode() {
	case TLSImplicit:
		return 465
	case TLSNone:
		return 25
	}
	return 587
}

func (c *SMTPConfig) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return 30 * time.Second
}

func (c *SMTPConfig) maxTries() int {
	if c.MaxTries > 0 {
		return c.MaxTries
	}
	return 3
}

// Validate checks the configuration; errors name the field.
func (c *SMTPConfig) Validate() error {
	var errs []error
	if strings.TrimSpace(c.Host) == "" {
		errs = append(errs, errors.New("smtp.host: required"))
	}
	switch c.tlsMode() {
	case TLSStartTLS, TLSImplicit:
	case TLSNone:
		if !isLoopback(c.Host) {
			errs = append(errs, fmt.Errorf("smtp.tls: %q is allowed only for a server on loopback, not %q; use starttls or implicit", TLSNone, c.Host))
		}
	default:
		errs = append(errs, fmt.Errorf("smtp.tls: %q is not one of starttls, implicit, none", c.TLS))
	}
	if c.Port < 0 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("smtp.port: %d is out of range", c.Port))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("smtp.timeout: %s is negative", c.Timeout))
	}
	if c.MaxTries < 0 {
		errs = append(errs, fmt.Errorf("smtp.max_tries: %d is negative", c.MaxTries))
	}
	if c.From == "" {
		errs = append(errs, errors.New("smtp.from: required"))
	} else if _, err := mail.ParseAddress(c.From); err != nil {
		errs = append(errs, fmt.Errorf("smtp.from: %q: %v", c.From, err))
	}
	for i, a := range c.Operators {
		if _, err := mail.ParseAddress(a); err != nil {
			errs = append(errs, fmt.Errorf("smtp.operators[%d]: %q: %v", i, a, err))
		}
	}
	if c.Username != "" && !c.hasPassword() {
		errs = append(errs, fmt.Errorf("smtp.username: set, but no password (set smtp.password_file or $%s)", PasswordEnv))
	}
	if c.Username == "" && c.hasPassword() {
		errs = append(errs, errors.New("smtp.username: required when a password is given"))
	}
	if c.CAFile != "" {
		if _, err := c.tlsConfig(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// isLoopback reports whether host is this machine: "localhost" or a loopback address.
func isLoopback(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func (c *SMTPConfig) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{ServerName: strings.Trim(c.Host, "[]"), MinVersion: tls.VersionTLS12}
	if c.CAFile == "" {
		return cfg, nil
	}
	pem, err := os.ReadFile(c.CAFile)
	if err != nil {
		return nil, fmt.Errorf("smtp.ca_file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("smtp.ca_file: %s: no PEM certificate found", c.CAFile)
	}
	cfg.RootCAs = pool
	return cfg, nil
}

func localName() string {
	h, err := os.Hostname()
	if err != nil || h == "" || strings.ContainsAny(h, " \r\n") {
		return "localhost"
	}
	return h
}
