package source

import (
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestParseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw     string
		want    location
		shown   string // location.String()
		addr    string
		wantErr string // substring; "" means no error
	}{
		{raw: "sftp://sis@files.example.org/srv/sis/outgoing",
			want:  location{scheme: "sftp", user: "sis", host: "files.example.org", dir: "/srv/sis/outgoing"},
			shown: "sftp://sis@files.example.org/srv/sis/outgoing", addr: "files.example.org:22"},
		{raw: "sftp://sis@host:2222/srv/sis/outgoing/",
			want:  location{scheme: "sftp", user: "sis", host: "host", port: "2222", dir: "/srv/sis/outgoing"},
			shown: "sftp://sis@host:2222/srv/sis/outgoing", addr: "host:2222"},
		{raw: "sftp://sis@host/~/outgoing",
			want:  location{scheme: "sftp", user: "sis", host: "host", home: true, dir: "outgoing"},
			shown: "sftp://sis@host/~/outgoing", addr: "host:22"},
		{raw: "sftp://sis@host/~",
			want:  location{scheme: "sftp", user: "sis", host: "host", home: true, dir: "."},
			shown: "sftp://sis@host/~", addr: "host:22"},
		{raw: "sftp://sis@host/~/a/../b",
			want:  location{scheme: "sftp", user: "sis", host: "host", home: true, dir: "b"},
			shown: "sftp://sis@host/~/b", addr: "host:22"},
		{raw: "SFTP://sis@[::1]:2222/in",
			want:  location{scheme: "sftp", user: "sis", host: "::1", port: "2222", dir: "/in"},
			shown: "sftp://sis@[::1]:2222/in", addr: "[::1]:2222"},
		{raw: "sftp://sis@[2001:db8::7]/in",
			want:  location{scheme: "sftp", user: "sis", host: "2001:db8::7", dir: "/in"},
			shown: "sftp://sis@[2001:db8::7]/in", addr: "[2001:db8::7]:22"},
		{raw: "sftp://first.last%40school@host/in",
			want:  location{scheme: "sftp", user: "first.last@school", host: "host", dir: "/in"},
			shown: "sftp://first.last%40school@host/in", addr: "host:22"},
		{raw: "file:///var/spool/sis", want: location{scheme: "file", dir: "/var/spool/sis"}, shown: "/var/spool/sis"},
		{raw: "file://localhost/var/spool/sis", want: location{scheme: "file", dir: "/var/spool/sis"}, shown: "/var/spool/sis"},
		{raw: "/var/spool/sis/", want: location{scheme: "file", dir: "/var/spool/sis"}, shown: "/var/spool/sis"},
		{raw: "incoming/sis", want: location{scheme: "file", dir: "incoming/sis"}, shown: "incoming/sis"},

		{raw: "", wantErr: "is empty"},
		{raw: "ftp://sis@host/in", wantErr: `unsupported scheme "ftp"`},
		{raw: "https://host/in", wantErr: `unsupported scheme "https"`},
		{raw: "sftp://host/in", wantErr: "no user"},
		{raw: "sftp://sis@/in", wantErr: "no host"},
		{raw: "sftp://sis@host", wantErr: "no folder path"},
		{raw: "sftp://sis@host/",
			want:  location{scheme: "sftp", user: "sis", host: "host", dir: "/"},
			shown: "sftp://sis@host/", addr: "host:22"},
		{raw: "sftp://sis@host:0/in", wantErr: `port "0"`},
		{raw: "sftp://sis@host:70000/in", wantErr: `port "70000"`},
		{raw: "sftp://sis@host:ssh/in", wantErr: "does not parse"},
		{raw: "sftp://sis@host:/in", wantErr: "empty port"},
		{raw: "sftp://sis@host/in?x=1", wantErr: "no ?query"},
		{raw: "sftp://sis@host/~/../etc", wantErr: "leaves the home"},
		{raw: "sftp://sis:hunter2@host/in", wantErr: "must not hold a password"},
		{raw: "sis@host:/srv/in", wantErr: "scp syntax"},
		{raw: "file://server/share", wantErr: `not host "server"`},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			got, err := parseURL(tt.raw)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseURL(%q) error = %v, want one containing %q", tt.raw, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseURL(%q): %v", tt.raw, err)
			}
			if got != tt.want {
				t.Errorf("parseURL(%q) = %+v, want %+v", tt.raw, got, tt.want)
			}
			if s := got.String(); s != tt.shown {
				t.Errorf("String() = %q, want %q", s, tt.shown)
			}
			if tt.addr != "" && got.addr() != tt.addr {
				t.Errorf("addr() = %q, want %q", got.addr(), tt.addr)
			}
		})
	}
}

// A password put in the URL by mistake is never repeated, even when the URL does not parse.
func TestParseURLNeverShowsPassword(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{
		"sftp://sis:hunter2@host/in",
		"sftp://sis:hunter2@host:bad/in",
		"sftp://sis:hunt/er2@host/in",
		"sftp://sis:hunter2@host/in#frag",
		"ftp://sis:hunter2@host/in",
	} {
		_, err := parseURL(raw)
		if err == nil {
			t.Errorf("parseURL(%q) accepted a password", raw)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "er2") {
			t.Errorf("parseURL(%q) error shows the password: %v", raw, err)
		}
	}
}

// RedactURL is how every message and log line shows a source URL: what is safe stays, so an
// operator can still tell which server and folder it is.
func TestRedactURL(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		"sftp://sis@files.example.org:2222/srv/out": "sftp://sis@files.example.org:2222/srv/out",
		"sftp://first.last%40school@host/in":        "sftp://first.last%40school@host/in",
		"sftp://sis@[::1]:2222/in":                  "sftp://sis@[::1]:2222/in",
		"sftp://sis:hunter2@host/in":                "sftp://sis@host/in",
		"sftp://sis:hun%2Fter2@host/in":             "sftp://sis@host/in",
		"ftp://sis:hunter2@host/in":                 "ftp://sis@host/in",
		"sftp://sis@host/in?password=hunter2":       "sftp://sis@host/in",
		"sftp://sis@host/in#hunter2":                "sftp://sis@host/in",
		"file:///var/spool/sis":                     "file:///var/spool/sis",
		"/var/spool/sis":                            "/var/spool/sis",
		"incoming/sis@school":                       "incoming/sis@school",

		"sftp://sis:hun/ter2@host/in":        NotShown,
		"sftp://sis:hun#ter2@host/in":        NotShown,
		"sftp://sis:hun?ter2@host/in":        NotShown,
		"sftp://sis:hun@ter2@host/in":        NotShown,
		"sftp://sis:hun%ter2@host/in":        NotShown,
		"sftp://sis:hunter2@host:bad/in":     NotShown,
		"sftp://sis@host/in/a@b":             NotShown,
		"sis:hunter2@host:/srv/in":           NotShown,
		"sis:hunter2@host:/srv/in://x":       NotShown,
		"sftp:sis:hunter2@host/in":           NotShown,
		"sftp://sis:hunter2@host/in\x00\x7f": NotShown,
	} {
		if got := RedactURL(raw); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", raw, got, want)
		}
	}
}

// A Config in a log line shows its URL as RedactURL does.
func TestConfigLogValueHidesThePassword(t *testing.T) {
	t.Parallel()
	var buf strings.Builder
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	logger.Info("source", "config", Config{URL: "sftp://sis:a@Tr0ub4dor#x@127.0.0.1/srv/out"})
	logger.Info("source", "config", Config{URL: "sftp://sis@127.0.0.1/srv/out?password=Tr0ub4dor"})
	if out := buf.String(); strings.Contains(out, "Tr0ub4dor") || !strings.Contains(out, NotShown) || !strings.Contains(out, "url=sftp://sis@127.0.0.1/srv/out ") {
		t.Errorf("the log shows the password, or not what is safe:\n%s", out)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	sftpOK := Config{URL: "sftp://sis@host/in", KnownHosts: "/etc/imsfeed/known_hosts", KeyFile: "/etc/imsfeed/id"}
	tests := []struct {
		name    string
		edit    func(c *Config)
		wantErr string // names the field
	}{
		{"defaults", func(*Config) {}, ""},
		{"local folder", func(c *Config) { *c = Config{URL: "/srv/in"} }, ""},
		{"move with folder", func(c *Config) { c.After, c.ProcessedDir = "move", "done" }, ""},
		{"move default folder", func(c *Config) { c.After = "move" }, ""},
		{"bad url", func(c *Config) { c.URL = "ftp://x/y" }, "url:"},
		{"bad pattern", func(c *Config) { c.Pattern = "[a-" }, "pattern"},
		{"pattern with slash", func(c *Config) { c.Pattern = "in/*.xml" }, "pattern"},
		{"bad after", func(c *Config) { c.After = "archive" }, "after"},
		{"processed without move", func(c *Config) { c.ProcessedDir = "done" }, "processed_dir"},
		{"processed is source", func(c *Config) { c.After, c.ProcessedDir = "move", "./" }, "processed_dir"},
		{"marker with slash", func(c *Config) { c.Marker = "x/.done" }, "marker"},
		{"negative connect timeout", func(c *Config) { c.ConnectTimeout = -time.Second }, "connect_timeout"},
		{"negative read timeout", func(c *Config) { c.ReadTimeout = -time.Second }, "read_timeout"},
		{"negative keep", func(c *Config) { c.Keep = -1 }, "keep"},
		{"sftp without known_hosts", func(c *Config) { c.KnownHosts = "" }, "known_hosts"},
		{"local with key", func(c *Config) { *c = Config{URL: "/srv/in", KeyFile: "/k"} }, "key_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := sftpOK
			tt.edit(&c)
			err := c.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.wantErr)):
				t.Fatalf("Validate error = %v, want one starting with %q", err, tt.wantErr)
			}
		})
	}
}
