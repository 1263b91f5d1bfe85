package source

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Config says where one tenant's files come from. The zero value of every field but URL means
// its default; the lead's config loader embeds it per tenant under `source:`.
type Config struct {
	// URL is sftp://user@host[:port]/abs/path, sftp://user@host/~/rel (relative to the login's
	// home), file:///path, or a plain path (a local folder). It holds no password, ?query or
	// #fragment: Validate refuses them, and messages show it as RedactURL does.
	URL string `yaml:"url"`
	// Pattern is a glob (path.Match) on file names in the folder; default "*.xml". As in a
	// shell, names starting with "." only match a pattern that starts with ".".
	Pattern string `yaml:"pattern"`
	// KnownHosts is the OpenSSH known_hosts file the server's host key must be listed in
	// (required for sftp).
	KnownHosts string `yaml:"known_hosts"`
	// KeyFile is a private key (ed25519 or RSA, OpenSSH or PEM format) for key authentication.
	KeyFile string `yaml:"key_file"`
	// PassphraseFile holds the key's passphrase; the caller reads it (or the environment
	// variable IMSFEED_<TENANT>_SSH_PASSPHRASE) into Secrets.
	PassphraseFile string `yaml:"passphrase_file"`
	// PasswordFile holds the password for password authentication; the caller reads it (or
	// IMSFEED_<TENANT>_SFTP_PASSWORD) into Secrets.
	PasswordFile string `yaml:"password_file"`
	// ConnectTimeout bounds the TCP connect plus SSH handshake; default 30s.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// ReadTimeout is how long any SFTP operation, and a transfer, may go without progress
	// before it fails; default 60s.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// SettleTime: the newest file is only taken once it has gone unchanged this long, so a
	// file the SIS is still writing is not read. One last modified at least this long ago by
	// the folder's own clock is taken at once; a newer one is watched for the rest of the time
	// (size and modification time stable), and for all of it when the folder's clock cannot be
	// read or the file's time lies ahead of it. Default 10s; a negative value turns the check
	// off. Not used when Marker is set: the marker says the file is complete.
	SettleTime time.Duration `yaml:"settle"`
	// Marker, when set (e.g. ".done"), means a file is only taken once FILE+Marker exists.
	Marker string `yaml:"marker"`
	// After is what Done does with an imported file: "leave" (default), "move" or "delete".
	After string `yaml:"after"`
	// ProcessedDir is where After "move" puts files, relative to the source folder unless
	// absolute; default "processed". It is created when missing.
	ProcessedDir string `yaml:"processed_dir"`
	// Keep is how many files the spool keeps (see PruneSpool); default 5.
	Keep int `yaml:"keep"`
	// MaxSize, when over 0, makes Fetch refuse a larger file before downloading or hashing
	// any of it (ErrTooLarge). The importer sets it from the tenant's max_file_size; it is
	// not a key of the source block.
	MaxSize int64 `yaml:"-"`
}

// Defaults for the zero values of Config.
const (
	DefaultPattern        = "*.xml"
	DefaultConnectTimeout = 30 * time.Second
	DefaultReadTimeout    = 60 * time.Second
	DefaultSettleTime     = 10 * time.Second
	DefaultProcessedDir   = "processed"
	DefaultKeep           = 5
)

// After-actions.
const (
	AfterLeave  = "leave"
	AfterMove   = "move"
	AfterDelete = "delete"
)

// Validate checks the configuration without touching the network or the files it names. Each
// error names the field (by its YAML key). Zero values are valid and mean the defaults.
func (c *Config) Validate() error {
	loc, err := parseURL(c.URL)
	if err != nil {
		return fmt.Errorf("url: %w", err)
	}
	if c.Pattern != "" {
		if strings.Contains(c.Pattern, "/") {
			return fmt.Errorf("pattern %q: matches file names only, it may not contain /", c.Pattern)
		}
		if _, err := path.Match(c.Pattern, ""); err != nil {
			return fmt.Errorf("pattern %q: %w", c.Pattern, err)
		}
	}
	if strings.ContainsAny(c.Marker, "/*?[") {
		return fmt.Errorf("marker %q: a file name suffix such as .done, without / or glob characters", c.Marker)
	}
	switch c.After {
	case "", AfterLeave, AfterDelete:
		if c.ProcessedDir != "" {
			return fmt.Errorf("processed_dir is only used with after: move (after is %q)", c.after())
		}
	case AfterMove:
		if d := path.Clean(filepath.ToSlash(c.ProcessedDir)); c.ProcessedDir != "" && d == "." {
			return fmt.Errorf("processed_dir %q: is the source folder itself", c.ProcessedDir)
		}
	default:
		return fmt.Errorf("after %q: want leave, move or delete", c.After)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"connect_timeout", c.ConnectTimeout}, {"read_timeout", c.ReadTimeout}} {
		if d.v < 0 {
			return fmt.Errorf("%s %s: must not be negative", d.name, d.v)
		}
	}
	if c.Keep < 0 {
		return fmt.Errorf("keep %d: must not be negative", c.Keep)
	}
	if loc.scheme == "sftp" {
		if c.KnownHosts == "" {
			return errors.New("known_hosts: required for an sftp url (an OpenSSH known_hosts file with the server's host key)")
		}
		return nil
	}
	for _, f := range []struct{ name, v string }{
		{"known_hosts", c.KnownHosts}, {"key_file", c.KeyFile},
		{"passphrase_file", c.PassphraseFile}, {"password_file", c.PasswordFile},
	} {
		if f.v != "" {
			return fmt.Errorf("%s: only used with an sftp url, but url is a local folder", f.name)
		}
	}
	return nil
}

// LogValue shows the configuration in logs with the URL's password, if someone put one
// there, hidden.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("url", RedactURL(c.URL)), slog.String("pattern", c.Pattern),
		slog.String("known_hosts", c.KnownHosts), slog.String("key_file", c.KeyFile),
		slog.String("marker", c.Marker), slog.String("after", c.After),
	)
}

// withDefaults returns c with zero values replaced by the defaults.
func (c Config) withDefaults() Config {
	if c.Pattern == "" {
		c.Pattern = DefaultPattern
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.SettleTime == 0 {
		c.SettleTime = DefaultSettleTime
	}
	c.After = c.after()
	if c.After == AfterMove && c.ProcessedDir == "" {
		c.ProcessedDir = DefaultProcessedDir
	}
	if c.Keep == 0 {
		c.Keep = DefaultKeep
	}
	return c
}

func (c *Config) after() string {
	if c.After == "" {
		return AfterLeave
	}
	return c.After
}

// location is a parsed source URL.
type location struct {
	scheme string // "sftp" or "file"
	user   string
	host   string // without brackets
	port   string // as written; "" means 22
	home   bool   // sftp path was /~/…: dir is relative to the login's home
	dir    string // the folder: slash path for sftp ("." is the home), OS path for file
}

// addr is host:port for dialling and for known_hosts.
func (l location) addr() string {
	port := l.port
	if port == "" {
		port = "22"
	}
	return net.JoinHostPort(l.host, port)
}

// String is the URL as it may be printed: it never holds a password.
func (l location) String() string {
	if l.scheme == "file" {
		return l.dir
	}
	host := l.host
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if l.port != "" {
		host = net.JoinHostPort(l.host, l.port)
	}
	p := l.dir
	if l.home {
		p = "/~/" + strings.TrimPrefix(l.dir, ".")
		p = strings.TrimSuffix(strings.ReplaceAll(p, "//", "/"), "/")
	}
	return shownURL(&url.URL{Scheme: "sftp", User: url.User(l.user), Host: host, Path: p})
}

// NotShown stands in for a source URL that cannot be shown safely.
const NotShown = "(url not shown)"

// The fix for a URL that does not parse unambiguously, and for one with a password in it.
const (
	percentEncode = "percent-encode special characters (%40 for @, %23 for #, %3F for ?, %2F for /, %25 for %, %20 for a space)"
	noPassword    = "a password goes in password_file or IMSFEED_<TENANT>_SFTP_PASSWORD, never in the url"
)

var urlScheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]{0,15}$`)

// RedactURL gives a source URL as it may appear in errors, logs and mails: a local folder as
// written, a URL as scheme, user, host, port and path, never a password, ?query or #fragment.
// Whatever does not parse as an unambiguous URL is NotShown: a password with an unescaped /, #,
// ? or @ moves part of itself into what would look like the host, port, path or fragment (and
// Go's parse errors quote the input).
func RedactURL(raw string) string {
	u, local, err := splitURL(raw)
	switch {
	case err != nil:
		return NotShown
	case local:
		return raw
	}
	return shownURL(u)
}

// shownURL is u without its password, query and fragment.
func shownURL(u *url.URL) string {
	v := *u
	if v.User != nil {
		v.User = url.User(v.User.Username())
	}
	v.RawQuery, v.ForceQuery, v.Fragment, v.RawFragment = "", false, "", ""
	return v.String()
}

// errNotAURL is splitURL's one error: its text must not quote the input.
var errNotAURL = errors.New("not an unambiguous url")

// splitURL parses raw as a URL, or reports that it is a local folder path. It refuses what
// might have a password's pieces in the wrong place: a URL that does not parse, an @ that does
// not end the user info, and a plain path that looks like scp's user:password@host:path.
func splitURL(raw string) (u *url.URL, local bool, err error) {
	scheme, _, hasScheme := strings.Cut(raw, "://")
	if !hasScheme {
		if first, _, _ := strings.Cut(raw, "/"); strings.Contains(first, ":") {
			return nil, false, errNotAURL
		}
		return nil, true, nil
	}
	if !urlScheme.MatchString(scheme) {
		return nil, false, errNotAURL
	}
	u, err = url.Parse(raw)
	if err != nil || u.Opaque != "" {
		return nil, false, errNotAURL // never Go's error: it quotes the input
	}
	// A well-formed URL has at most one @, the one ending its user info; any other @ belongs to
	// a password that was not percent-encoded.
	if at := strings.Count(raw, "@"); at > 1 || at == 1 && u.User == nil {
		return nil, false, errNotAURL
	}
	return u, false, nil
}

// parseURL reads a source URL (see Config.URL). Its errors show the URL only as RedactURL does.
func parseURL(raw string) (location, error) {
	if strings.TrimSpace(raw) == "" {
		return location{}, errors.New("is empty (want sftp://user@host/path, file:///path or a folder path)")
	}
	u, local, err := splitURL(raw)
	switch {
	case err != nil && !strings.Contains(raw, "://"):
		return location{}, fmt.Errorf("%s looks like scp syntax (user@host:path); write sftp://user@host/path (%s)", NotShown, noPassword)
	case err != nil:
		return location{}, fmt.Errorf("%s: it does not parse as sftp://USER@HOST[:PORT]/PATH; %s; %s", NotShown, percentEncode, noPassword)
	case local:
		return location{scheme: "file", dir: filepath.Clean(raw)}, nil
	}
	shown := RedactURL(raw)
	if _, has := u.User.Password(); has {
		return location{}, fmt.Errorf("%q: the url must not hold a password; use password_file or IMSFEED_<TENANT>_SFTP_PASSWORD", shown)
	}
	// Any unescaped ? or # starts a query or fragment, even an empty one at the end.
	if strings.ContainsAny(raw, "?#") {
		return location{}, fmt.Errorf("%q: a source url has no ?query or #fragment (not shown); %s, and a key in key_file; in a folder name percent-encode ? as %%3F and # as %%23", shown, noPassword)
	}
	switch strings.ToLower(u.Scheme) {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return location{}, fmt.Errorf("%q: a file url names a local folder (file:///path), not host %q", shown, u.Host)
		}
		if u.Path == "" {
			return location{}, fmt.Errorf("%q: no folder path (want file:///path)", shown)
		}
		return location{scheme: "file", dir: filepath.Clean(filepath.FromSlash(u.Path))}, nil
	case "sftp":
	default:
		return location{}, fmt.Errorf("%q: unsupported scheme %q (want sftp://, file:// or a plain folder path)", shown, u.Scheme)
	}
	l := location{scheme: "sftp", host: u.Hostname(), port: u.Port()}
	if u.User != nil {
		l.user = u.User.Username()
	}
	if l.user == "" {
		return location{}, fmt.Errorf("%q: no user (want sftp://user@host/path)", shown)
	}
	if l.host == "" {
		return location{}, fmt.Errorf("%q: no host (want sftp://user@host/path)", shown)
	}
	if strings.HasSuffix(u.Host, ":") {
		return location{}, fmt.Errorf("%q: empty port after host", shown)
	}
	if l.port != "" {
		if n, err := strconv.Atoi(l.port); err != nil || n < 1 || n > 65535 {
			return location{}, fmt.Errorf("%q: port %q is not a number from 1 to 65535", shown, l.port)
		}
	}
	switch p := u.Path; {
	case p == "":
		return location{}, fmt.Errorf("%q: no folder path (want sftp://user@host/abs/path, sftp://user@host/~/rel, or / for the server's root)", shown)
	case p == "/~" || strings.HasPrefix(p, "/~/"):
		l.home = true
		l.dir = path.Clean(strings.TrimPrefix(strings.TrimPrefix(p, "/~"), "/"))
		if l.dir == ".." || strings.HasPrefix(l.dir, "../") {
			// Allowed by the server, but almost certainly a typo.
			return location{}, fmt.Errorf("%q: path leaves the home folder", shown)
		}
	default:
		l.dir = path.Clean(p)
	}
	return l, nil
}
