package mailer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestSecretRedacts(t *testing.T) {
	t.Parallel()
	const pw = "hunter2-correct-horse"
	cfg := SMTPConfig{Host: "smtp.example.org", Username: "u", Password: pw}
	var logs bytes.Buffer
	l := slog.New(slog.NewJSONHandler(&logs, nil))
	l.Info("x", "password", cfg.Password, "cfg", cfg)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("x", "password", cfg.Password, "cfg", cfg)
	j, _ := json.Marshal(cfg)
	y, _ := yaml.Marshal(struct{ P Secret }{cfg.Password})
	outputs := []string{
		logs.String(), string(j), string(y),
		fmt.Sprint(cfg.Password), fmt.Sprintf("%v %+v %#v %s %q %x %X %10s %d", cfg.Password, cfg.Password, cfg.Password, cfg.Password, cfg.Password, cfg.Password, cfg.Password, cfg.Password, cfg.Password),
		fmt.Sprintf("%v %+v %#v", cfg, cfg, &cfg),
	}
	for _, s := range outputs {
		if strings.Contains(s, pw) || strings.Contains(s, fmt.Sprintf("%x", pw)) {
			t.Errorf("secret shown: %s", s)
		}
	}
	if !strings.Contains(fmt.Sprintf("%q", cfg.Password), `"[redacted]"`) {
		t.Errorf("%%q gives %q", fmt.Sprintf("%q", cfg.Password))
	}
	if cfg.Password.Reveal() != pw {
		t.Error("Reveal does not return the value")
	}
}

func TestLoadPassword(t *testing.T) {
	f := filepath.Join(t.TempDir(), "smtp")
	if err := os.WriteFile(f, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(PasswordEnv, "from-env")
	c := SMTPConfig{PasswordFile: f}
	if err := c.LoadPassword(); err != nil || c.Password.Reveal() != "from-file" {
		t.Errorf("password_file: %v, %q", err, c.Password.Reveal())
	}
	c = SMTPConfig{}
	if err := c.LoadPassword(); err != nil || c.Password.Reveal() != "from-env" {
		t.Errorf("env: %v, %q", err, c.Password.Reveal())
	}
	c = SMTPConfig{PasswordFile: filepath.Join(t.TempDir(), "missing")}
	if err := c.LoadPassword(); err == nil || !strings.Contains(err.Error(), "smtp.password_file") {
		t.Errorf("missing file: %v", err)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	ok := SMTPConfig{Host: "smtp.example.org", From: "imsfeed <imsfeed@example.org>"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for _, c := range []struct {
		mod  func(*SMTPConfig)
		want string
	}{
		{func(c *SMTPConfig) { c.Host = "" }, "smtp.host: required"},
		{func(c *SMTPConfig) { c.TLS = "none" }, `smtp.tls: "none" is allowed only for a server on loopback`},
		{func(c *SMTPConfig) { c.TLS = "ssl" }, `smtp.tls: "ssl" is not one of`},
		{func(c *SMTPConfig) { c.From = "not an address" }, "smtp.from:"},
		{func(c *SMTPConfig) { c.Operators = []string{"ops@example.org", "bad"} }, "smtp.operators[1]"},
		{func(c *SMTPConfig) { c.Username = "u" }, "no password"},
		{func(c *SMTPConfig) { c.CAFile = "/nonexistent/ca.pem" }, "smtp.ca_file"},
		{func(c *SMTPConfig) { c.Port = 70000 }, "smtp.port"},
	} {
		cfg := ok
		c.mod(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate() = %v, want it to say %q", err, c.want)
		}
	}
	for _, host := range []string{"localhost", "127.0.0.1", "::1", "[::1]", "127.0.0.2"} {
		cfg := ok
		cfg.Host, cfg.TLS = host, TLSNone
		if err := cfg.Validate(); err != nil {
			t.Errorf("tls none on %s: %v", host, err)
		}
	}
}

// Ports follow the TLS mode; the certificate is checked against the configured host.
func TestPortsFollowTLSMode(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		host, tls string
		port      int
	}{
		{"smtp.example.org", "", 587},
		{"smtp.example.org", "starttls", 587},
		{"localhost", "", 587},
		{"smtp.example.org", "implicit", 465},
		{"127.0.0.1", "none", 25},
	} {
		cfg := SMTPConfig{Host: c.host, TLS: c.tls, From: "a@example.org"}
		tc, err := cfg.tlsConfig()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.port() != c.port || tc.ServerName != c.host {
			t.Errorf("%s/%s: port %d server name %q", c.host, c.tls, cfg.port(), tc.ServerName)
		}
	}
}
