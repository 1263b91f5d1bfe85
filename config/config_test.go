package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imsfeed/imsfeed/safety"
)

const sample = `
store: postgres://imsfeed@localhost/imsfeed?sslmode=disable
smtp: {host: smtp.example.org, port: 587, from: "imsfeed <imsfeed@example.org>"}
tenants:
  - id: northside
    name: Northside school district
    source: {url: "sftp://sis@files.example.org/srv/sis/outgoing", pattern: "*.xml",
             known_hosts: /etc/imsfeed/known_hosts, key_file: /etc/imsfeed/id_ed25519}
    mode: snapshot
    schedule: "0 2 * * *"
    subscribers: [it@northside.example.org]
    courses: {types: [Course, CourseSection], archive: true}
    safety:
      min_changes: 25
      persons:     {inserts: 20%, updates: 50%, deletes: 10%}
  - id: southside
    mode: auto
    max_file_size: 500MB
    pauses: [{from: 2026-07-01, to: 2026-08-10, reason: summer holidays}]
    mappings: {persons: {national_id: "string(extension/pifu_id)"}}
`

func TestDesignSketchParsesWithDefaults(t *testing.T) {
	cfg, err := Parse([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	n, err := cfg.Tenant("northside")
	if err != nil {
		t.Fatal(err)
	}
	if n.Source.Pattern != "*.xml" || n.Courses.Types[1] != "CourseSection" || *n.Safety.Types[0].Deletes.MaxPercent != 10 {
		t.Errorf("northside read wrong: %+v", n)
	}
	s, _ := cfg.Tenant("southside")
	if s.Name != "southside" || s.Schedule != "0 2 * * *" || s.StaleAfter != 36*time.Hour || s.MaxFileSize != 500e6 {
		t.Errorf("southside defaults: name=%q schedule=%q stale=%v size=%d", s.Name, s.Schedule, s.StaleAfter, s.MaxFileSize)
	}
	if s.Safety.MinChanges != safety.DefaultPolicy().MinChanges || !s.Courses.Archive {
		t.Errorf("southside did not get the default policy: %+v", s.Safety)
	}
	if p, why := s.PausedAt(time.Date(2026, 7, 15, 3, 0, 0, 0, time.Local)); !p || !strings.Contains(why, "summer") {
		t.Errorf("summer pause: %v %q", p, why)
	}
	if p, _ := s.PausedAt(time.Date(2026, 8, 11, 3, 0, 0, 0, time.Local)); p {
		t.Error("paused after the window")
	}
	if m := s.ReaderMappings(); len(m) != 1 || m[0].Name != "national_id" {
		t.Errorf("mappings: %+v", m)
	}
	if _, err := cfg.Tenant("westside"); err == nil || !strings.Contains(err.Error(), "northside, southside") {
		t.Errorf("unknown tenant error should list the configured ones: %v", err)
	}
}

func TestBadConfigNamesKeyAndLine(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"store: sqlite:///x.db\ntenants:\n  - id: a\n    moed: snapshot\n", `line 4: unknown key "moed"`},
		{"tenants:\n  - id: a\n    mode: sometimes\n", `tenant a: mode "sometimes"`},
		{"tenants:\n  - id: a\n  - id: a\n", "id used twice"},
		{"tenants:\n  - id: Bad Id\n", "must be lower-case"},
		{"tenants:\n  - id: a\n    schedule: every night\n", "not a cron expression"},
		{"tenants:\n  - id: a\n    safety: {persons: {deletes: ten%}}\n", "safety.persons.deletes"},
		{"tenants:\n  - id: a\n    max_file_size: lots\n", "not a size"},
		{"tenants:\n  - id: a\n    pauses: [{from: 2026-13-01, to: 2026-08-01}]\n", "not a date"},
		{"store: mysql://x\n", "not a store URL"},
		{"tenants:\n  - id: a\n    mappings: {people: {x: y}}\n", "mappings.people"},
		{"tenants:\n  - id: a\n    timezone: Oslo/Norway\n", `tenant a: timezone "Oslo/Norway" is not an IANA time zone name`},
	} {
		_, err := Parse([]byte(c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want error containing %q", c.yaml, err, c.want)
		}
	}
}

func TestSecretsComeFromFilesAndNeverFromOutput(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "smtp-pass"), []byte("hunter2\n"), 0o600)
	path := filepath.Join(dir, "imsfeed.yaml")
	os.WriteFile(path, []byte("smtp: {host: mail.example.org, from: a@example.org, username: imsfeed, password_file: smtp-pass}\n"), 0o600)
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if pw, err := cfg.SMTP.ReadPassword(); err != nil || pw.Reveal() != "hunter2" {
		t.Fatalf("password not read from the relative password_file: %v", err)
	}
	t.Setenv("IMSFEED_NORTH_SIDE_SFTP_PASSWORD", "s3cret")
	tn := DefaultTenant("north-side")
	s, err := tn.SourceSecrets()
	if err != nil || s.Password != "s3cret" {
		t.Fatalf("env secret: %v %q", err, s.Password)
	}
	if RedactURL("postgres://u:pw@db/x") != "postgres://db/x" {
		t.Errorf("redact: %s", RedactURL("postgres://u:pw@db/x"))
	}
}

func TestEmbeddedDefaultAcceptsAnyTenant(t *testing.T) {
	cfg, err := Default(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(cfg.Store, "sqlite://") {
		t.Errorf("store %q", cfg.Store)
	}
	tn, err := cfg.Tenant("anyone")
	if err != nil || tn.Mode != ModeSnapshot {
		t.Fatalf("%v %+v", err, tn)
	}
	if _, err := cfg.Tenant("Not Valid"); err == nil {
		t.Error("invalid id accepted")
	}
}

// The tenant's timezone is where the status mail's times are; without one, the machine's.
func TestTenantTimezone(t *testing.T) {
	cfg, err := Parse([]byte("tenants:\n  - id: a\n    timezone: America/New_York\n  - id: b\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Tenants[0].Location().String(); got != "America/New_York" {
		t.Errorf("tenant a's location %s", got)
	}
	if got := cfg.Tenants[1].Location(); got != time.Local {
		t.Errorf("tenant b's location %s, want the machine's", got)
	}
}

// Loading a config reads no secret: a password file that is missing (or readable only by the
// account that sends mail) must not stop `runs` or `status`. The mailer reads it when it sends.
func TestLoadReadsNoSecretFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "imsfeed.yaml")
	os.WriteFile(path, []byte("smtp: {host: mail.example.org, from: a@example.org, username: imsfeed, password_file: missing-pass}\n"+
		"tenants:\n  - id: north\n    source: {url: sftp://sis@files.example.org/out, known_hosts: kh, key_file: missing-key, passphrase_file: missing-phrase}\n"), 0o600)
	cfg, err := Load(path)
	if err != nil {
		t.Fatalf("a missing secret file failed the config load: %v", err)
	}
	if _, err := cfg.SMTP.ReadPassword(); err == nil || !strings.Contains(err.Error(), "smtp.password_file") || !strings.Contains(err.Error(), filepath.Join(dir, "missing-pass")) {
		t.Errorf("reading the missing password when sending: %v", err)
	}
}

// A config mistake is named by its line and key in words an operator can act on, never as
// yaml.v3's "cannot unmarshal !!str … into time.Duration", and a syntax error points at the
// line that is wrong, not at the start of the block around it.
func TestConfigErrorsNameLineAndKey(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"lock_wait: 10 mins", `line 1: lock_wait: "10 mins" is not a duration (e.g. 30s, 10m, 36h, 7d)`},
		{"tenants:\n  - id: a\n    source: {url: /tmp, settle: 5 sec}", `line 3: tenants[0].source.settle: "5 sec" is not a duration`},
		{"tenants:\n  - id: a\n    paused: yes please", `line 3: tenants[0].paused: "yes please" is not true or false`},
		{"smtp:\n  host: x\n  port: abc", `line 3: smtp.port: "abc" is not a whole number`},
		{"tenants:\n  - id: a\n    subscribers: x@y", `line 3: tenants[0].subscribers: "x@y" is a single value; a list`},
		{"tenants:\n  - id: a\n\tmode: event", "line 3: not valid YAML: found a tab character that violates indentation (indent with spaces, not tabs)"},
		{"tenants:\n  - id: a\n  mode: event", "line 3: not valid YAML: did not find expected '-' indicator"},
		{"tenants:\n  - id: a\n    mode: evnt", `line 3: tenant a: mode "evnt" must be snapshot, event or auto`},
		{"tenants:\n  - id: a\n  - id: B", `line 3: tenant B: id "B" must be lower-case`},
		{"store: sqlite://state.db", `line 1: store: sqlite://state.db names host "state.db", but a SQLite file is local: write sqlite:///ABSOLUTE/PATH.db`},
	} {
		_, err := Parse([]byte(c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.yaml, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "unmarshal") {
			t.Errorf("%q: error %v is yaml.v3's wording", c.yaml, err)
		}
	}
}

// Durations may be written in days, in the config as on the command line.
func TestDurationsInDays(t *testing.T) {
	cfg, err := Parse([]byte("lock_wait: 0.5d\ntenants:\n  - id: a\n    stale_after: 3d\n    source: {url: /tmp, settle: 90s}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.LockWait != 12*time.Hour || cfg.Tenants[0].StaleAfter != 72*time.Hour || cfg.Tenants[0].Source.SettleTime != 90*time.Second {
		t.Errorf("lock_wait %s, stale_after %s, settle %s; want 12h, 72h, 1m30s", cfg.LockWait, cfg.Tenants[0].StaleAfter, cfg.Tenants[0].Source.SettleTime)
	}
	for in, want := range map[string]time.Duration{"90d": 90 * 24 * time.Hour, "2160h": 2160 * time.Hour, "1h30m": 90 * time.Minute} {
		if d, err := ParseDuration(in); err != nil || d != want {
			t.Errorf("ParseDuration(%q) = %s, %v; want %s", in, d, err, want)
		}
	}
	if _, err := ParseDuration("3 days"); err == nil {
		t.Error(`ParseDuration("3 days"): no error`)
	}
}

// The example config in samples/ loads as shipped.
func TestSampleConfigLoads(t *testing.T) {
	cfg, err := Load(filepath.Join("..", "samples", "imsfeed.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := cfg.Tenant("northside"); err != nil || n.Safety.MinChanges != 25 {
		t.Errorf("northside: %+v, %v", n, err)
	}
}

// Issue 12: an operator whose tenants list is there but empty is an operator of no tenant and
// sees nothing; only an operator without the key sees every tenant.
func TestOperatorOfNoTenantSeesNothing(t *testing.T) {
	cfg, err := Parse([]byte(`http: {listen: "127.0.0.1:8080"}
operators:
  - {name: All, email: all@example.org}
  - {name: Nobody, email: nobody@example.org, tenants: []}
  - {name: North, email: north@example.org, tenants: [a]}
tenants:
  - id: a
  - id: b
`))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range [][2]bool{{true, true}, {false, false}, {true, false}} {
		o := &cfg.Operators[i]
		if got := [2]bool{o.Sees("a"), o.Sees("b")}; got != want {
			t.Errorf("%s sees a, b: %v, want %v", o.Name, got, want)
		}
	}
}

// A source url with a password in it, or one that does not parse, is refused at load with an
// error that names the tenant, its line and the fix, and no piece of the password: not when the
// password's special characters move it into what looks like the host, port, path or fragment,
// and not when it is in the query.
func TestSourceURLErrorsNeverShowThePassword(t *testing.T) {
	dir := t.TempDir() // not the subtest's: its name holds the URL
	for i, c := range []struct {
		url     string
		secrets []string // none of them, nor any 4 characters of one, may show
		fix     []string // what the error must say
		query   string   // a query or fragment, which must not show
	}{
		{"sftp://sis:Tr0ub4dor/x@127.0.0.1:42001/srv/out", []string{"Tr0ub4dor/x"}, []string{"does not parse", "%2F for /", "password_file"}, ""},
		{"sftp://sis:a@Tr0ub4dor#x@127.0.0.1/srv/out", []string{"a@Tr0ub4dor#x"}, []string{"does not parse", "%40 for @", "%23 for #"}, ""},
		{"sftp://sis:p@ss#Word9@127.0.0.1:42001/srv/out", []string{"p@ss#Word9"}, []string{"does not parse", "%40 for @"}, ""},
		{"sftp://sis:pa#ssWord7@127.0.0.1:42001/srv/out", []string{"pa#ssWord7"}, []string{"does not parse", "%23 for #"}, ""},
		{"sftp://sis:Zq@9vLx@host/srv/out", []string{"Zq@9vLx"}, []string{"does not parse", "%40 for @"}, ""},
		{"sftp://sis:Zq?9vLx@host/srv/out", []string{"Zq?9vLx"}, []string{"does not parse", "%3F for ?"}, ""},
		{"sftp://sis:100%sure@host/srv/out", []string{"100%sure"}, []string{"does not parse", "%25 for %"}, ""},
		{"sftp://sis:Qv8 x7Lm@host/srv/out", []string{"Qv8 x7Lm"}, []string{"does not parse", "%20 for a space"}, ""},
		{"sftp://sis:Zq:9vLx@host/srv/out", []string{"Zq:9vLx"}, []string{`"sftp://sis@host/srv/out"`, "must not hold a password", "password_file"}, ""},
		{"sftp://sis:50%4Bey7@host/srv/out", []string{"50%4Bey7", "50Key7"}, []string{`"sftp://sis@host/srv/out"`, "must not hold a password"}, ""},
		{"sftp://sis@127.0.0.1:42001/srv/out?password=TopSecretPw2", []string{"TopSecretPw2"}, []string{`"sftp://sis@127.0.0.1:42001/srv/out"`, "no ?query", "password_file"}, "?password="},
		{"sftp://sis@host/srv/out?key_file=/etc/ssh/Xk9_id", []string{"Xk9_id"}, []string{`"sftp://sis@host/srv/out"`, "no ?query", "key_file"}, "?key_file="},
		{"sftp://sis@host/srv/out#pw=Qm7vRt", []string{"Qm7vRt"}, []string{`"sftp://sis@host/srv/out"`, "#fragment", "%23"}, "#pw="},
		{"sis:Hj4kPw@host:/srv/out", []string{"Hj4kPw"}, []string{"scp syntax", "write sftp://user@host/path", "password_file"}, ""},
	} {
		t.Run(c.url, func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprintf("imsfeed%d.yaml", i))
			yaml := fmt.Sprintf("tenants:\n  - id: north\n    source:\n      url: %q\n      known_hosts: kh\n", c.url)
			if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path)
			if err == nil {
				t.Fatalf("loaded a config whose source url is %s", c.url)
			}
			msg, ok := strings.CutPrefix(err.Error(), "config "+path+": line 4: tenant north: source: url: ")
			if !ok {
				t.Errorf("error %q does not start with the file, line 4, the tenant and its key", err)
			}
			if c.query != "" && strings.Contains(msg, c.query) {
				t.Errorf("error %q shows the query %q", msg, c.query)
			}
			for _, want := range c.fix {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not say %q", msg, want)
				}
			}
			for _, secret := range c.secrets {
				for i := 0; i+4 <= len(secret); i++ {
					if piece := secret[i : i+4]; strings.Contains(msg, piece) {
						t.Errorf("error %q shows %q of %q", msg, piece, secret)
						break
					}
				}
			}
		})
	}
}

// A postgres store URL whose password was not percent-encoded is a config mistake: refused
// when the config loads (exit 2, no run recorded), naming its line and the fix, never a piece
// of the password.
func TestAnAmbiguousStoreURLIsRefusedAtLoad(t *testing.T) {
	dir := t.TempDir()
	for i, pw := range []string{"S3cr#t/pw@x", "Zq@9vLx", "Tr0ub/4dor"} {
		path := filepath.Join(dir, fmt.Sprintf("imsfeed%d.yaml", i))
		yaml := "data_dir: " + dir + "\nstore: \"postgres://qa:" + pw + "@127.0.0.1:5432/qa?sslmode=disable\"\ntenants:\n  - id: north\n"
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(path)
		if err == nil {
			t.Errorf("password %q: loaded", pw)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, "line 2: store: (connection string not shown): it does not parse") || !strings.Contains(msg, "%40 for @") {
			t.Errorf("password %q: %s", pw, msg)
		}
		for j := 0; j+4 <= len(pw); j++ {
			if strings.Contains(msg, pw[j:j+4]) {
				t.Errorf("password %q: the error shows %q: %s", pw, pw[j:j+4], msg)
			}
		}
	}
}

// Every mistake of a config is reported at once, in the file's order, each with its line and
// its key from the top, those a self-decoding block (safety) finds too.
func TestEveryConfigMistakeAtOnce(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "imsfeed.yaml")
	yaml := "tenants:\n  - id: north\n    safety:\n      persons: {delete: 10%}\n    source:\n      url: " + dir + "\n      settle: 5 sec\n    subscriber: it@example.org\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil {
		t.Fatal("loaded")
	}
	want := []string{
		"3 mistakes:",
		"\n  line 4: tenants[0].safety.persons.delete: unknown key; did you mean deletes?",
		"\n  line 7: tenants[0].source.settle: \"5 sec\" is not a duration",
		"\n  line 8: unknown key \"subscriber\" in tenants[0]",
	}
	msg, at := err.Error(), 0
	for _, w := range want {
		i := strings.Index(msg[at:], w)
		if i < 0 {
			t.Fatalf("the error lacks %q after what came before:\n%s", w, msg)
		}
		at += i + len(w)
	}
}

// A pause window's dates are the tenant's days, as its schedule's: on a UTC machine a Tokyo
// tenant's 02:00 slot of 20 June (17:00 UTC on the 19th) is in a window from the 20th, and its
// slot of the 22nd (17:00 UTC on the 21st) is not in a window to the 21st.
func TestPauseWindowsAreTheTenantsDays(t *testing.T) {
	t.Setenv("TZ", "UTC")
	tokyo := &Tenant{ID: "east", Timezone: "Asia/Tokyo", Pauses: []Pause{{From: Date{time.Date(2026, 6, 20, 0, 0, 0, 0, time.UTC)}, To: Date{time.Date(2026, 6, 21, 0, 0, 0, 0, time.UTC)}, Reason: "sports days"}}}
	for _, c := range []struct {
		at     time.Time
		paused bool
	}{
		{time.Date(2026, 6, 19, 17, 0, 0, 0, time.UTC), true},  // 20 June 02:00 JST
		{time.Date(2026, 6, 20, 17, 0, 0, 0, time.UTC), true},  // 21 June 02:00 JST
		{time.Date(2026, 6, 21, 17, 0, 0, 0, time.UTC), false}, // 22 June 02:00 JST
		{time.Date(2026, 6, 19, 14, 0, 0, 0, time.UTC), false}, // 19 June 23:00 JST
	} {
		if p, why := tokyo.PausedAt(c.at); p != c.paused {
			t.Errorf("at %s (%s in Tokyo): paused %v (%s), want %v", c.at.Format(time.DateTime), c.at.In(tokyo.Location()).Format(time.DateTime), p, why, c.paused)
		}
	}
}
