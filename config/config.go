// Package config reads imsfeed's one YAML file: the store, the mail server and the tenants with
// their sources, modes, schedules, course rules and safety policies. Defaults are applied once
// here and Validate names the tenant and key of every problem. With no file at all, Default gives
// the embedded default: SQLite and an outbox under the user's data directory, and any tenant id
// accepted with the default policy.
package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/adhocore/gronx"
	"go.yaml.in/yaml/v3"

	"github.com/imsfeed/imsfeed/archive"
	"github.com/imsfeed/imsfeed/importer/ims"
	"github.com/imsfeed/imsfeed/mailer"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/safety"
	"github.com/imsfeed/imsfeed/source"
	"github.com/imsfeed/imsfeed/store"
)

// Config is the whole configuration.
type Config struct {
	// Store is the state store URL: postgres://… or sqlite:///path.db.
	Store string `yaml:"store"`
	// DataDir holds the SQLite file, spool and outbox of the embedded default.
	DataDir string `yaml:"data_dir"`
	// Spool is where fetched files are kept (default DataDir/spool).
	Spool string `yaml:"spool"`
	// Outbox is where mails are written when there is no SMTP server, and queued when it fails.
	Outbox string `yaml:"outbox"`
	// SMTP sends the status mail; absent means outbox files only.
	SMTP *mailer.SMTPConfig `yaml:"smtp"`
	// LockWait is how long a run waits for another run of the same tenant (default 10m).
	LockWait time.Duration `yaml:"lock_wait"`
	// HTTP is serve's listener for the live channel; absent means no listener.
	HTTP *HTTP `yaml:"http"`
	// Queue tunes `imsfeed serve`, whose processes on one store share one job queue.
	Queue Queue `yaml:"queue"`
	// Operators may sign in to the console on serve's listener and decide held runs.
	Operators []Operator `yaml:"operators"`
	Tenants   []Tenant   `yaml:"tenants"`

	// Embedded is true for the built-in default: any tenant id is accepted.
	Embedded bool `yaml:"-"`
	// Path is the file the config came from ("" for the embedded default).
	Path string `yaml:"-"`

	lines map[string]int // the line of each key by its path ("tenants[0].mode"), for errors
}

// Queue tunes the job queue of `imsfeed serve`.
type Queue struct {
	// Workers is how many imports one serve process runs at once (default: its CPU cores).
	Workers int `yaml:"workers"`
	// RescueAfter: a job whose process died is run again by another after this long
	// (default 15m). It must be longer than the longest import.
	RescueAfter time.Duration `yaml:"rescue_after"`
}

// Tenant is one school owner's feed.
type Tenant struct {
	ID   string `yaml:"id"`
	Name string `yaml:"name"`
	// Source is where the nightly file comes from.
	Source source.Config `yaml:"source"`
	// Mode: snapshot (default), event, or auto (the file's properties/type decides).
	Mode string `yaml:"mode"`
	// Schedule is a cron expression for `imsfeed serve` (default "0 2 * * *").
	Schedule    string   `yaml:"schedule"`
	Subscribers []string `yaml:"subscribers"`
	// Timezone is the IANA zone (e.g. Europe/Oslo) the status mail writes its times in;
	// empty means the machine's.
	Timezone string `yaml:"timezone"`
	// DataSource, when set, must equal the file's properties/datasource.
	DataSource string `yaml:"datasource"`
	// Lenient repairs a bare & and junk after </enterprise>, each repair a warning.
	Lenient bool `yaml:"lenient"`
	// MaxFileSize rejects larger files, e.g. "2GB" (default 4GB; 0 means no limit).
	MaxFileSize Size `yaml:"max_file_size"`
	// Encoding "utf-8" reads the files as UTF-8 whatever they declare; "" follows the declaration.
	Encoding string `yaml:"encoding"`
	// Limits against hostile or broken files (ims.Options): attributes on one element, what one
	// record holds in memory, one text node or attribute value.
	MaxAttributes int  `yaml:"max_attributes"`
	MaxRecordSize Size `yaml:"max_record_size"`
	MaxTextSize   Size `yaml:"max_text_size"`
	// Courses says which groups are courses and whether they are archived.
	Courses archive.CoursePolicy `yaml:"courses"`
	// Hierarchy places the file's groups in the tree (hierarchy/): loose groups under a
	// catch-all node, rule-built nodes from group attributes.
	Hierarchy Hierarchy `yaml:"hierarchy"`
	// SchoolYear puts courses under the current school year's node; `imsfeed rollover` moves on.
	SchoolYear *SchoolYear   `yaml:"school_year"`
	Safety     safety.Policy `yaml:"safety"`
	// Mappings map vendor extensions to attributes: type → name → XPath on the record. Under
	// "relations", the name is a relation type and the XPath, on each person, selects the
	// related persons' keys.
	Mappings map[string]map[string]string `yaml:"mappings"`
	// Paused skips every run (recorded as skipped with the reason).
	Paused bool `yaml:"paused"`
	// Pauses are date windows (summer holidays, school-year rollover) when runs are skipped.
	Pauses []Pause `yaml:"pauses"`
	// StaleAfter: when no new file has arrived for this long, the run says so (default 36h; 0 off).
	StaleAfter time.Duration `yaml:"stale_after"`
	// UndoDays: how long a run's before-images are kept for `imsfeed undo` (default 30; 0
	// keeps none, and no run of the tenant can be undone).
	UndoDays int `yaml:"undo_days"`
	// ES are the credentials of the tenant's live channel (IMS Enterprise Services).
	ES *ES `yaml:"es"`
	// RetryUntil: `imsfeed serve` retries a slot that failed for a passing reason (source
	// unreachable, store busy, file not settled) until this long after the slot (default 2h).
	RetryUntil time.Duration `yaml:"retry_until"`
}

// Pause is a window of dates, both inclusive, in the machine's local time zone.
type Pause struct {
	From   Date   `yaml:"from"`
	To     Date   `yaml:"to"`
	Reason string `yaml:"reason"`
}

// Date is a calendar day written YYYY-MM-DD.
type Date struct{ time.Time }

// UnmarshalYAML reads YYYY-MM-DD.
func (d *Date) UnmarshalYAML(n *yaml.Node) error {
	t, err := time.ParseInLocation("2006-01-02", strings.TrimSpace(n.Value), time.Local)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a date (want YYYY-MM-DD)", n.Line, n.Value)
	}
	d.Time = t
	return nil
}

// Size is a byte count written 300MB, 2GB, 1048576.
type Size int64

// UnmarshalYAML reads a byte count with an optional KB/MB/GB/TB (or KiB/MiB/GiB) suffix.
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	v := strings.ToUpper(strings.TrimSpace(n.Value))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"TIB", 1 << 40}, {"GIB", 1 << 30}, {"MIB", 1 << 20}, {"KIB", 1 << 10}, {"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1}} {
		if strings.HasSuffix(v, u.suffix) {
			v, mult = strings.TrimSpace(strings.TrimSuffix(v, u.suffix)), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 {
		return fmt.Errorf("line %d: %q is not a size (e.g. 500MB, 2GB)", n.Line, n.Value)
	}
	*s = Size(f * float64(mult))
	return nil
}

// Modes a tenant may choose.
const (
	ModeSnapshot = "snapshot"
	ModeEvent    = "event"
	ModeAuto     = "auto"
)

const (
	defaultSchedule   = "0 2 * * *"
	defaultStaleAfter = 36 * time.Hour
	defaultMaxSize    = Size(4e9)
	defaultLockWait   = 10 * time.Minute
	defaultRetryUntil = 2 * time.Hour
	// DefaultUndoDays is undo_days's default.
	DefaultUndoDays = 30
	// DefaultRescueAfter is queue.rescue_after's default.
	DefaultRescueAfter = 15 * time.Minute
)

// Load reads and validates a config file. Unknown keys are errors that name the key and line.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg, err := parse(data, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	cfg.Path = path
	return cfg, nil
}

// Parse decodes and validates YAML config text; relative secret files are read from the
// working directory.
func Parse(data []byte) (*Config, error) { return parse(data, ".") }

func parse(data []byte, base string) (*Config, error) {
	cfg, err := decode(data)
	if err != nil {
		return nil, err
	}
	if err := cfg.resolveSecrets(base); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// decode reads config text, checks its keys and applies the defaults; it reads no secret.
func decode(data []byte) (*Config, error) {
	var cfg Config
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, syntaxError(data, err)
	}
	lines := map[string]int{}
	if err := checkKeys(&doc, reflect.TypeFor[Config](), "", lines); err != nil {
		return nil, err
	}
	// Tenants start from the defaults, so keys a tenant leaves out keep their default values.
	if len(doc.Content) > 0 {
		if err := doc.Decode(&cfg); err != nil {
			return nil, friendlyYAML(err)
		}
	}
	cfg.applyDefaults()
	cfg.lines = lines
	return &cfg, nil
}

// UnmarshalYAML gives a tenant its defaults before its keys are read.
func (t *Tenant) UnmarshalYAML(n *yaml.Node) error {
	type plain Tenant
	p := plain(DefaultTenant(""))
	if err := n.Decode(&p); err != nil {
		return err
	}
	*t = Tenant(p)
	return nil
}

// DefaultTenant is a tenant with every default and the given id (the embedded default uses it
// for any id).
func DefaultTenant(id string) Tenant {
	return Tenant{
		ID:          id,
		Mode:        ModeSnapshot,
		Schedule:    defaultSchedule,
		MaxFileSize: defaultMaxSize,

		MaxAttributes: ims.DefaultMaxAttributes,
		MaxRecordSize: ims.DefaultMaxRecordSize,
		MaxTextSize:   ims.DefaultMaxTextSize,
		Courses:       archive.DefaultCoursePolicy(),
		Safety:        safety.DefaultPolicy(),
		StaleAfter:    defaultStaleAfter,
		RetryUntil:    defaultRetryUntil,
		UndoDays:      DefaultUndoDays,
		Source:        source.Config{Pattern: "*.xml"},
	}
}

// Default is the embedded default: SQLite and an outbox under dataDir ("" = the user's data
// directory, or $IMSFEED_DATA_DIR).
func Default(dataDir string) (*Config, error) {
	cfg := &Config{DataDir: dataDir, Embedded: true}
	cfg.applyDefaults()
	return cfg, cfg.Validate()
}

// DefaultDataDir is $IMSFEED_DATA_DIR, else $XDG_DATA_HOME/imsfeed, else ~/.local/share/imsfeed.
func DefaultDataDir() string {
	if d := os.Getenv("IMSFEED_DATA_DIR"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "imsfeed")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "imsfeed")
	}
	return filepath.Join(os.TempDir(), "imsfeed")
}

func (c *Config) applyDefaults() {
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir()
	}
	if c.Store == "" {
		c.Store = "sqlite://" + filepath.Join(c.DataDir, "state.db")
	}
	if c.Spool == "" {
		c.Spool = filepath.Join(c.DataDir, "spool")
	}
	if c.Outbox == "" {
		c.Outbox = filepath.Join(c.DataDir, "outbox")
	}
	if c.LockWait == 0 {
		c.LockWait = defaultLockWait
	}
	if c.Queue.Workers == 0 {
		c.Queue.Workers = runtime.NumCPU()
	}
	if c.Queue.RescueAfter == 0 {
		c.Queue.RescueAfter = DefaultRescueAfter
	}
	for i := range c.Tenants {
		t := &c.Tenants[i]
		if t.Name == "" {
			t.Name = t.ID
		}
		if t.Source.Pattern == "" {
			t.Source.Pattern = "*.xml"
		}
	}
}

var tenantID = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// Validate checks the whole config and names the tenant and key of the first problem.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	// at is "line N: " for the key at path, when the config came from a file.
	at := func(path string) string {
		if n := c.lines[path]; n > 0 {
			return fmt.Sprintf("line %d: ", n)
		}
		return ""
	}
	if rest, ok := strings.CutPrefix(c.Store, "sqlite:"); ok {
		if _, err := store.SQLitePath(rest); err != nil {
			bad("%sstore: %v", at("store"), err)
		}
	} else if !strings.HasPrefix(c.Store, "postgres://") && !strings.HasPrefix(c.Store, "postgresql://") {
		bad("%sstore: %q is not a store URL (postgres://… or sqlite:///path.db)", at("store"), redactURL(c.Store))
	} else if redactURL(c.Store) == store.NotShown {
		// Refused here, not when dialled: a config mistake exits 2 before any run is recorded,
		// and the password's pieces that moved into the host or path are never shown.
		bad("%sstore: %s: it does not parse as postgres://USER:PASSWORD@HOST:PORT/DATABASE?OPTIONS; percent-encode special characters in the password (%%2F for /, %%23 for #, %%40 for @, %%3F for ?, %%25 for %%, %%20 for a space)", at("store"), store.NotShown)
	}
	if c.Queue.Workers < 0 || c.Queue.RescueAfter < 0 {
		bad("queue: workers and rescue_after must not be negative")
	}
	if c.SMTP != nil {
		if err := c.SMTP.Validate(); err != nil {
			bad("%v", err)
		}
	}
	seen := map[string]bool{}
	for i, t := range c.Tenants {
		where := fmt.Sprintf("tenants[%d]", i)
		if t.ID != "" {
			where = fmt.Sprintf("tenant %s", t.ID)
		}
		key := func(k string) string { // "line N: tenant x" for the tenant's key k
			if l := at(fmt.Sprintf("tenants[%d].%s", i, k)); l != "" {
				return l + where
			}
			return at(fmt.Sprintf("tenants[%d]", i)) + where
		}
		switch {
		case t.ID == "":
			bad("%s: id is required", key("id"))
		case !tenantID.MatchString(t.ID):
			bad("%s: id %q must be lower-case letters, digits, - or _", key("id"), t.ID)
		case seen[t.ID]:
			bad("%s: id used twice", key("id"))
		}
		seen[t.ID] = true
		if t.Mode != ModeSnapshot && t.Mode != ModeEvent && t.Mode != ModeAuto {
			bad("%s: mode %q must be snapshot, event or auto", key("mode"), t.Mode)
		}
		if t.Schedule != "" && !gronx.IsValid(t.Schedule) {
			bad("%s: schedule %q is not a cron expression (e.g. \"0 2 * * *\")", key("schedule"), t.Schedule)
		}
		if t.Source.URL != "" {
			if err := t.Source.Validate(); err != nil {
				line := key("source")
				if strings.HasPrefix(err.Error(), "url:") {
					line = key("source.url")
				}
				bad("%s: source: %v", line, err)
			}
		}
		if err := t.Safety.Validate(); err != nil {
			bad("%s: safety: %v", key("safety"), err)
		}
		if len(t.Courses.Types) == 0 && t.Courses.Archive {
			bad("%s: courses.types is empty but courses.archive is on: name the course grouptypes", key("courses"))
		}
		for typ, m := range t.Mappings {
			if _, ok := recordType(typ); !ok {
				bad("%s: mappings.%s: must be persons, groups, memberships or relations", key("mappings"), typ)
			}
			for name, xp := range m {
				if strings.TrimSpace(xp) == "" {
					bad("%s: mappings.%s.%s: empty XPath", key("mappings."+typ+"."+name), typ, name)
				} else if err := ims.ValidateMapping(xp); err != nil {
					bad("%s: mappings.%s.%s: %v", key("mappings."+typ+"."+name), typ, name, err)
				}
			}
		}
		validateHierarchy(&c.Tenants[i], key, bad)
		for j, p := range t.Pauses {
			if p.To.Before(p.From.Time) {
				bad("%s: pauses[%d]: to is before from", key("pauses"), j)
			}
		}
		if t.RetryUntil < 0 {
			bad("%s: retry_until must not be negative (0 retries nothing)", where)
		}
		if t.UndoDays < 0 {
			bad("%s: undo_days must not be negative (0 keeps no before-images)", key("undo_days"))
		}
		if t.StaleAfter < 0 {
			bad("%s: stale_after must not be negative", key("stale_after"))
		}
		if t.Timezone != "" {
			if _, err := time.LoadLocation(t.Timezone); err != nil {
				bad("%s: timezone %q is not an IANA time zone name (e.g. Europe/Oslo): %v", key("timezone"), t.Timezone, err)
			}
		}
		switch strings.ToLower(t.Encoding) {
		case "", "utf-8", "utf8":
		default:
			bad("%s: encoding %q: only utf-8 can be set (it overrides the files' declaration); leave it out to follow the declaration", key("encoding"), t.Encoding)
		}
		if t.MaxAttributes <= 0 {
			bad("%s: max_attributes must be at least 1", key("max_attributes"))
		}
		if t.MaxRecordSize <= 0 {
			bad("%s: max_record_size must be more than 0", key("max_record_size"))
		}
		if t.MaxTextSize <= 0 {
			bad("%s: max_text_size must be more than 0", key("max_text_size"))
		}
	}
	errs = append(errs, validateES(c)...)
	errs = append(errs, validateOperators(c)...)
	return errors.Join(errs...)
}

func recordType(s string) (record.Type, bool) {
	for _, t := range record.AllTypes {
		if t.String() == s {
			return t, true
		}
	}
	return 0, false
}

// Tenant returns the tenant with this id. The embedded default accepts any valid id.
func (c *Config) Tenant(id string) (*Tenant, error) {
	for i := range c.Tenants {
		if c.Tenants[i].ID == id {
			return &c.Tenants[i], nil
		}
	}
	if c.Embedded && tenantID.MatchString(id) {
		t := DefaultTenant(id)
		t.Name = id
		return &t, nil
	}
	var ids []string
	for _, t := range c.Tenants {
		ids = append(ids, t.ID)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("unknown tenant %q: the config %s has no tenants", id, c.Path)
	}
	return nil, fmt.Errorf("unknown tenant %q (configured: %s)", id, strings.Join(ids, ", "))
}

// ReaderMappings turns the tenant's mappings into the reader's form, in a stable order.
func (t *Tenant) ReaderMappings() []ims.Mapping {
	var out []ims.Mapping
	for _, rt := range record.AllTypes {
		m := t.Mappings[rt.String()]
		names := make([]string, 0, len(m))
		for n := range m {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			out = append(out, ims.Mapping{Name: n, Type: rt, XPath: m[n]})
		}
	}
	return append(out, t.whereMappings()...)
}

// Location is the tenant's time zone: its timezone, else the machine's.
func (t *Tenant) Location() *time.Location {
	if t.Timezone != "" {
		if loc, err := time.LoadLocation(t.Timezone); err == nil {
			return loc
		}
	}
	return time.Local
}

// PausedAt says whether the tenant is paused at t, and why. A window's dates are days of the
// tenant's timezone, as its schedule is: a Tokyo tenant's 02:00 slot on the window's first day
// is paused, though it is the day before on a UTC machine.
func (t *Tenant) PausedAt(now time.Time) (bool, string) {
	if t.Paused {
		return true, "tenant is paused (paused: true)"
	}
	date := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	day := date(now.In(t.Location()).Date())
	for _, p := range t.Pauses {
		if !day.Before(date(p.From.Date())) && !day.After(date(p.To.Date())) {
			reason := p.Reason
			if reason == "" {
				reason = "pause window"
			}
			return true, fmt.Sprintf("%s (%s to %s)", reason, p.From.Format("2006-01-02"), p.To.Format("2006-01-02"))
		}
	}
	return false, ""
}

// SourceSecrets reads the tenant's SFTP passphrase and password from their files or from
// $IMSFEED_<TENANT>_SSH_PASSPHRASE and $IMSFEED_<TENANT>_SFTP_PASSWORD.
func (t *Tenant) SourceSecrets() (source.Secrets, error) {
	var s source.Secrets
	env := "IMSFEED_" + strings.ToUpper(strings.NewReplacer("-", "_").Replace(t.ID))
	var err error
	if s.Passphrase, err = secret(t.Source.PassphraseFile, env+"_SSH_PASSPHRASE"); err != nil {
		return s, fmt.Errorf("tenant %s: source.passphrase_file: %w", t.ID, err)
	}
	if s.Password, err = secret(t.Source.PasswordFile, env+"_SFTP_PASSWORD"); err != nil {
		return s, fmt.Errorf("tenant %s: source.password_file: %w", t.ID, err)
	}
	return s, nil
}

func secret(file, env string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("read secret: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return os.Getenv(env), nil
}

// resolveSecrets makes a relative smtp.password_file relative to the config file. It reads no
// secret: the mailer reads the password when it connects (and the source its secrets when it
// fetches), so commands that need neither work without them.
func (c *Config) resolveSecrets(base string) error {
	c.resolveOperators(base)
	if c.SMTP == nil {
		return nil
	}
	if c.SMTP.PasswordFile != "" && !filepath.IsAbs(c.SMTP.PasswordFile) {
		c.SMTP.PasswordFile = filepath.Join(base, c.SMTP.PasswordFile)
	}
	return nil
}

// syntaxError says where YAML that does not parse goes wrong. yaml.v3 gives the line where the
// enclosing block began, often lines above the mistake; the first prefix of the text (whole
// lines) that no longer parses ends at the line that is wrong.
func syntaxError(data []byte, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if m := regexp.MustCompile(`^line \d+: `).FindString(msg); m != "" {
		msg = strings.TrimPrefix(msg, m)
	}
	lines := strings.SplitAfter(string(data), "\n")
	for n := 1; n <= len(lines); n++ {
		var doc yaml.Node
		if yaml.Unmarshal([]byte(strings.Join(lines[:n], "")), &doc) != nil {
			if strings.Contains(msg, "tab character") {
				msg += " (indent with spaces, not tabs)"
			}
			return fmt.Errorf("line %d: not valid YAML: %s", n, msg)
		}
	}
	return friendlyYAML(err)
}

var yamlLine = regexp.MustCompile(`line (\d+): field (\S+) not found in type \S+`)

// friendlyYAML rewrites yaml.v3's unknown-field errors as "line N: unknown key "x"".
func friendlyYAML(err error) error {
	msg := yamlLine.ReplaceAllString(err.Error(), `line $1: unknown key "$2"`)
	msg = strings.TrimPrefix(msg, "yaml: unmarshal errors:\n  ")
	return errors.New(strings.ReplaceAll(msg, "\n  ", "; "))
}

// redactURL shows a store URL without its user info or options (store.RedactURL).
func redactURL(s string) string { return store.RedactURL(s) }

// RedactURL is redactURL for other packages (store URLs in messages).
func RedactURL(s string) string { return redactURL(s) }
