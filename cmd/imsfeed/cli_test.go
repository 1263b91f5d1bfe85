package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/imsfeed/imsfeed/samples"
	"github.com/imsfeed/imsfeed/source/sftptest"
	"github.com/imsfeed/imsfeed/store"
)

var binary string

// TestMain builds the real binary once: these tests run imsfeed the way users and schedulers do.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "imsfeed-cli-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "imsfeed")
	build := []string{"build", "-o", binary}
	if underRace {
		build = append(build, "-race")
	}
	if out, err := exec.Command("go", append(build, ".")...).CombinedOutput(); err != nil {
		panic(fmt.Sprintf("build: %v\n%s", err, out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

// imsfeed runs the binary in dir with a private data directory and no config but the given one.
func imsfeed(t *testing.T, dir string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "IMSFEED_DATA_DIR="+filepath.Join(dir, "data"), "IMSFEED_CONFIG=", "TMPDIR="+dir)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{so.String(), se.String(), code}
}

func TestDemoTellsTheNightlyStory(t *testing.T) {
	dir := t.TempDir()
	r := imsfeed(t, dir, "demo")
	if r.code != 0 {
		t.Fatalf("demo exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	out := r.stdout
	// Each night's status, in order.
	var statuses []string
	for _, m := range regexp.MustCompile(`(?m)^run (\d+)  northside  (\w+)$`).FindAllStringSubmatch(out, -1) {
		statuses = append(statuses, m[1]+":"+m[2])
	}
	want := "1:COMPLETED 2:COMPLETED 3:HELD 3:REJECTED 4:COMPLETED 5:COMPLETED 6:HELD 6:COMPLETED"
	if strings.Join(statuses, " ") != want {
		t.Fatalf("story: %v, want %s\n%s", statuses, want, out)
	}
	for _, s := range []string{
		"persons       0        60        0        0         0         0     60", // initial load
		"persons      62         0        0       28         0         0     34", // the broken night, held
		"persons      62         0        0        0         1         0     63", // the leaver back from the trash can
		"groups      12         0        0        0         0         2     10",  // two courses archived
		"persons      63         0        0       28         0         0     35", // graduation, approved
		"approved by demo operator",
		"rejected by demo operator",
		"Subject: [imsfeed] northside: import HELD",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("the story lacks %q", s)
		}
	}
	m := regexp.MustCompile(`Everything lives in (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatal("the demo does not say where its files are")
	}
	// The operator's commands it shows run as they are typed: the binary as it was invoked.
	for _, verb := range []string{"reject 3", "approve 6"} {
		if want := "\n    " + binary + " --config " + filepath.Join(m[1], "imsfeed.yaml") + " " + verb + " --by"; !strings.Contains(out, want) {
			t.Errorf("the story's operator does not type %q:\n%s", want, out)
		}
	}
	mails, _ := filepath.Glob(filepath.Join(m[1], "outbox", "*.eml"))
	if len(mails) != 8 {
		t.Errorf("%d mails in the outbox, want 8 (six nights, a rejection and an approval)", len(mails))
	}
	// Nothing but the demo folder (in TMPDIR) was created in the working directory.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "imsfeed-demo-") {
			t.Errorf("demo left %s in the working directory", e.Name())
		}
	}
	// The commands it suggests work as printed, typed into a shell where imsfeed is not on PATH.
	try := regexp.MustCompile(`(?s)\nTry:\n(.*?)\n\S`).FindStringSubmatch(out)
	if try == nil {
		t.Fatal("the demo suggests no commands to try")
	}
	for _, line := range strings.Split(strings.TrimSpace(try[1]), "\n") {
		cmd := exec.Command("sh", "-c", strings.TrimSpace(line))
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "IMSFEED_CONFIG=")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("the demo's hint %q fails: %v\n%s", strings.TrimSpace(line), err, out)
		}
	}
	cfg := filepath.Join(m[1], "imsfeed.yaml")
	if r := imsfeed(t, dir, "--config", cfg, "status", "--tenant", "northside", "--json"); r.code != 0 || !strings.Contains(r.stdout, `"trashed": 28`) {
		t.Errorf("status after the demo: %d %s %s", r.code, r.stdout, r.stderr)
	}

	// The trash can and the archive, as an operator uses them.
	type item struct {
		Key, Name string
		Since     string
		Run       int64
	}
	list := func(args ...string) []item {
		t.Helper()
		r := imsfeed(t, dir, append([]string{"--config", cfg}, args...)...)
		var items []item
		if err := json.Unmarshal([]byte(r.stdout), &items); err != nil || r.code != 0 {
			t.Fatalf("%v: exit %d, %v\n%s%s", args, r.code, err, r.stdout, r.stderr)
		}
		return items
	}
	trash := list("trash", "list", "--tenant", "northside", "--json")
	if len(trash) != 28 || trash[0].Key == "" || trash[0].Name == "" || trash[0].Since == "" || trash[0].Run != 6 {
		t.Fatalf("trash list: %d items, first %+v", len(trash), trash[0])
	}
	archived := list("archive", "list", "--tenant", "northside", "--json")
	if len(archived) != 2 || archived[0].Run != 5 {
		t.Fatalf("archive list: %+v", archived)
	}
	if r := imsfeed(t, dir, "--config", cfg, "trash", "restore", "--tenant", "northside", trash[0].Key); r.code != 0 {
		t.Fatalf("trash restore: %d %s", r.code, r.stderr)
	}
	if r := imsfeed(t, dir, "--config", cfg, "trash", "purge", "--tenant", "northside"); r.code != 2 {
		t.Errorf("purge without keys or --older-than must refuse (exit 2), got %d", r.code)
	}
	if r := imsfeed(t, dir, "--config", cfg, "trash", "purge", "--tenant", "northside", trash[1].Key); r.code != 0 || !strings.Contains(r.stdout, "purged 1") {
		t.Fatalf("trash purge: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r := imsfeed(t, dir, "--config", cfg, "archive", "restore", "--tenant", "northside", archived[0].Key); r.code != 0 {
		t.Fatalf("archive restore: %d %s", r.code, r.stderr)
	}
	if n := len(list("trash", "list", "--tenant", "northside", "--json")); n != 26 {
		t.Errorf("after one restore and one purge the trash holds %d, want 26", n)
	}
	if n := len(list("archive", "list", "--tenant", "northside", "--json")); n != 1 {
		t.Errorf("after one restore the archive holds %d, want 1", n)
	}
	if r := imsfeed(t, dir, "--config", cfg, "trash", "restore", "--tenant", "northside", "NOBODY"); r.code != 1 {
		t.Errorf("restoring an unknown key: exit %d, want 1", r.code)
	}
	// Six nights, a restore and a purge later, the state index still agrees with the rows.
	var report store.IndexReport
	r = imsfeed(t, dir, "--config", cfg, "check", "--tenant", "northside", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &report); err != nil || r.code != 0 || !report.OK() || report.Persons == 0 || report.Repaired {
		t.Errorf("check after the demo: exit %d, %v %+v %s", r.code, err, report, r.stderr)
	}
}

func writeDemo(t *testing.T, dir, night string) string {
	data, err := samples.Demo.ReadFile("demo/" + night)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, night)
	os.WriteFile(p, data, 0o644)
	return p
}

// approve, reject and undo --json print exactly one JSON document when they refuse, as when
// they decide: the run as it is, its status, and why in "error"; exit 1.
func TestRefusedDecisionPrintsOneJSONDocument(t *testing.T) {
	dir := t.TempDir()
	n1, n3 := writeDemo(t, dir, "night1.xml"), writeDemo(t, dir, "night3.xml")
	if r := imsfeed(t, dir, "import", "--tenant", "north", n1); r.code != 0 {
		t.Fatalf("import: %d %s", r.code, r.stderr)
	}
	var held [2]string
	for i := range held {
		r := imsfeed(t, dir, "import", "--tenant", "north", "--json", n3)
		var run struct{ Run int64 }
		if r.code != 3 || json.Unmarshal([]byte(r.stdout), &run) != nil {
			t.Fatalf("held import: %d %s %s", r.code, r.stdout, r.stderr)
		}
		held[i] = strconv.FormatInt(run.Run, 10)
	}
	type doc struct {
		Run    int64
		Status string
		Error  *struct{ Message string }
	}
	refused := func(want string, args ...string) {
		t.Helper()
		r := imsfeed(t, dir, append(args, "--json")...)
		var d doc
		dec := json.NewDecoder(strings.NewReader(r.stdout))
		err := dec.Decode(&d)
		if r.code != 1 || err != nil || dec.More() || d.Error == nil || !strings.Contains(d.Error.Message, want) {
			t.Errorf("%s: exit %d, want 1 and one JSON document whose error says %q:\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, want, r.stdout, r.stderr)
		}
	}
	// The first hold is superseded by the second.
	refused("superseded by run "+held[1], "approve", held[0], "--by", "ops", "--reason", "checked")
	refused("superseded by run "+held[1], "reject", held[0], "--by", "ops", "--reason", "checked")
	refused("no such run", "approve", "99", "--by", "ops", "--reason", "checked")
	if r := imsfeed(t, dir, "reject", held[1], "--by", "ops", "--reason", "wrong file", "--json"); r.code != 0 {
		t.Fatalf("reject: %d %s", r.code, r.stderr)
	}
	refused("rejected by ops", "approve", held[1], "--by", "ops", "--reason", "checked")
	refused("no such run", "undo", "99", "--by", "ops", "--reason", "checked")
	refused("cannot be undone", "undo", held[1], "--by", "ops", "--reason", "checked")
	n2 := writeDemo(t, dir, "night2.xml")
	if r := imsfeed(t, dir, "import", "--tenant", "north", n2); r.code != 0 {
		t.Fatalf("import: %d %s", r.code, r.stderr)
	}
	refused("add --cascade", "undo", "1", "--by", "ops", "--reason", "checked")
}

func TestExitCodesAndJSON(t *testing.T) {
	dir := t.TempDir()
	n1, n3 := writeDemo(t, dir, "night1.xml"), writeDemo(t, dir, "night3.xml")

	r := imsfeed(t, dir, "import", "--tenant", "north", "--json", n1)
	if r.code != 0 {
		t.Fatalf("import: %d %s", r.code, r.stderr)
	}
	var run map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &run); err != nil {
		t.Fatalf("--json is not one JSON document: %v\n%s", err, r.stdout)
	}
	for _, k := range []string{"run", "tenant", "status", "file", "counts", "verdict", "warnings", "error", "approval"} {
		if _, ok := run[k]; !ok {
			t.Errorf("run JSON lacks %q", k)
		}
	}
	if run["status"] != "completed" || run["counts"].(map[string]any)["persons"].(map[string]any)["inserted"] != 60.0 {
		t.Errorf("run JSON: %v", run)
	}

	// plan shows the verdict and applies nothing; a dry run is not a hold (exit 0).
	if r := imsfeed(t, dir, "plan", "--tenant", "north", n3); r.code != 0 || !strings.Contains(r.stdout, "PLANNED") || !strings.Contains(r.stdout, "persons deletes 46.7% > 10%") {
		t.Errorf("plan: exit %d\n%s", r.code, r.stdout)
	}
	r = imsfeed(t, dir, "import", "--tenant", "north", n3)
	if r.code != 3 {
		t.Fatalf("held import exit %d, want 3\n%s", r.code, r.stdout)
	}
	id := regexp.MustCompile(`run (\d+)  north  HELD`).FindStringSubmatch(r.stdout)[1]
	if r := imsfeed(t, dir, "approve", id); r.code != 2 || !strings.Contains(r.stderr, "--by") {
		t.Errorf("approve without --by: exit %d, %s", r.code, r.stderr)
	}
	r = imsfeed(t, dir, "approve", id, "--by", "ops", "--reason", "checked", "--json")
	if r.code != 0 || !strings.Contains(r.stdout, `"by": "ops"`) {
		t.Fatalf("approve: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r := imsfeed(t, dir, "approve", id, "--by", "ops", "--reason", "again"); r.code != 1 || !strings.Contains(r.stderr, "already approved") {
		t.Errorf("second approve: %d %s", r.code, r.stderr)
	}

	// validate: the corpus file that is not well-formed, strict and lenient.
	bad, err := os.ReadFile("../../importer/ims/testdata/corpus/colleague/ims-data.xml20120906143000.xml")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "colleague.xml"), bad, 0o644)
	r = imsfeed(t, dir, "validate", "--json", "colleague.xml")
	var v struct {
		Error *struct{ Line int } `json:"error"`
	}
	json.Unmarshal([]byte(r.stdout), &v)
	if r.code != 1 || v.Error == nil || v.Error.Line != 152 {
		t.Errorf("strict validate: exit %d, %s", r.code, r.stdout)
	}
	if r := imsfeed(t, dir, "validate", "--lenient", "colleague.xml"); r.code != 0 || !strings.Contains(r.stdout, "memberships  655") {
		t.Errorf("lenient validate: exit %d, %s", r.code, r.stdout)
	}
	if r := imsfeed(t, dir, "import", "--tenant", "north", "colleague.xml"); r.code != 1 || !strings.Contains(r.stdout, "colleague.xml:152:") {
		t.Errorf("import of a broken file: exit %d, %s", r.code, r.stdout)
	}
	if r := imsfeed(t, dir, "frobnicate"); r.code != 2 {
		t.Errorf("unknown command: exit %d", r.code)
	}
	os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte("tenants:\n  - id: a\n    shedule: x\n"), 0o644)
	if r := imsfeed(t, dir, "--config", "bad.yaml", "runs"); r.code != 2 || !strings.Contains(r.stderr, `line 3: unknown key "shedule"`) {
		t.Errorf("bad config: exit %d, %s", r.code, r.stderr)
	}
	if r := imsfeed(t, dir, "import", "--help"); r.code != 0 || !strings.Contains(r.stdout, "Example:") {
		t.Errorf("--help: exit %d, %s", r.code, r.stderr)
	}
}

// Two tenants on real SFTP, --all --parallel 2: both results and the worst exit code.
func TestRunAllParallelOverSFTP(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "sftp")
	for _, tenant := range []string{"north", "south"} {
		os.MkdirAll(filepath.Join(root, tenant), 0o755)
	}
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	sshPub, _ := ssh.NewPublicKey(pub)
	block, _ := ssh.MarshalPrivateKey(priv, "")
	keyFile := filepath.Join(dir, "id_ed25519")
	os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600)
	srv, err := sftptest.Start(sftptest.Options{Root: root, User: "sis", AuthorizedKey: sshPub})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	kh := filepath.Join(dir, "known_hosts")
	os.WriteFile(kh, []byte(srv.KnownHostsLine()+"\n"), 0o644)
	cfg := fmt.Sprintf(`store: sqlite://%s/state.db
data_dir: %s
tenants:
  - id: north
    source: {url: "sftp://sis@%s/north", known_hosts: %s, key_file: %s, settle: -1s}
  - id: south
    source: {url: "sftp://sis@%s/south", known_hosts: %s, key_file: %s, settle: -1s}
`, dir, dir, srv.Addr(), kh, keyFile, srv.Addr(), kh, keyFile)
	os.WriteFile(filepath.Join(dir, "imsfeed.yaml"), []byte(cfg), 0o644)
	put := func(tenant, night string) {
		data, _ := samples.Demo.ReadFile("demo/" + night)
		os.WriteFile(filepath.Join(root, tenant, "export.xml"), data, 0o644)
	}
	put("north", "night1.xml")
	put("south", "night1.xml")
	runAll := func() (result, []map[string]any) {
		r := imsfeed(t, dir, "run", "--all", "--parallel", "2", "--json")
		var list []map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
			t.Fatalf("run --all --json: %v\n%s\n%s", err, r.stdout, r.stderr)
		}
		return r, list
	}
	r, list := runAll()
	if r.code != 0 || len(list) != 2 || list[0]["status"] != "completed" || list[1]["status"] != "completed" || list[0]["tenant"] != "north" {
		t.Fatalf("first night: exit %d, %v\n%s", r.code, list, r.stderr)
	}
	// Night 2: south's export broke (held, 3); north's file did not change (skipped, 0).
	put("south", "night3.xml")
	r, list = runAll()
	if r.code != 3 || list[0]["status"] != "skipped" || list[1]["status"] != "held" {
		t.Fatalf("second night: exit %d, %v", r.code, list)
	}
	// Night 3: north's server folder is gone (failed, 1) — the worst code wins.
	os.RemoveAll(filepath.Join(root, "north"))
	r, list = runAll()
	if r.code != 1 || list[0]["status"] != "failed" {
		t.Fatalf("third night: exit %d, %v", r.code, list)
	}
}

// run --all with the default settle time takes files the SIS finished long ago at once, and
// says per tenant how long its fetch waited: in the log, in --json and in the human output.
func TestRunAllReportsHowLongEachFetchWaited(t *testing.T) {
	dir := t.TempDir()
	cfg := fmt.Sprintf("store: sqlite://%s/state.db\ndata_dir: %s\ntenants:\n", dir, dir)
	data, _ := samples.Demo.ReadFile("demo/night1.xml")
	hourAgo := time.Now().Add(-time.Hour)
	for _, tenant := range []string{"north", "south"} {
		folder := filepath.Join(dir, tenant)
		os.MkdirAll(folder, 0o755)
		os.WriteFile(filepath.Join(folder, "export.xml"), data, 0o644)
		os.Chtimes(filepath.Join(folder, "export.xml"), hourAgo, hourAgo)
		cfg += fmt.Sprintf("  - id: %s\n    source: {url: %q}\n", tenant, folder) // settle: the default 10s
	}
	os.WriteFile(filepath.Join(dir, "imsfeed.yaml"), []byte(cfg), 0o644)

	r := imsfeed(t, dir, "run", "--all", "--parallel", "2", "--json")
	var list []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || r.code != 0 || len(list) != 2 {
		t.Fatalf("run --all: exit %d, %v\n%s\n%s", r.code, err, r.stdout, r.stderr)
	}
	for _, run := range list {
		if w, ok := run["fetch_wait_seconds"].(float64); !ok || w != 0 || run["status"] != "completed" {
			t.Errorf("%s: %s, fetch_wait_seconds %v; want completed, taken at once (0)", run["tenant"], run["status"], run["fetch_wait_seconds"])
		}
	}
	for _, tenant := range []string{"north", "south"} {
		if !regexp.MustCompile(`tenant=` + tenant + ` .*fetch_waited=0s`).MatchString(r.stderr) {
			t.Errorf("the log does not say how long %s's fetch waited:\n%s", tenant, r.stderr)
		}
	}

	// South's SIS writes a new file just now: watched for its settle time, then taken.
	os.WriteFile(filepath.Join(dir, "south", "export.xml"), append(data, '\n'), 0o644)
	os.WriteFile(filepath.Join(dir, "imsfeed.yaml"), []byte(strings.Replace(cfg, filepath.Join(dir, "south")+`"}`, filepath.Join(dir, "south")+`", settle: 300ms}`, 1)), 0o644)
	r = imsfeed(t, dir, "run", "--tenant", "south")
	if r.code != 0 || !strings.Contains(r.stdout, "fetch    waited 300ms for the file to settle") {
		t.Errorf("run of a file written just now: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

// version and --version say the module version, commit, build date and Go version.
func TestVersion(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{{"version"}, {"--version"}} {
		r := imsfeed(t, dir, args...)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "imsfeed ") || !strings.Contains(r.stdout, "commit") ||
			!strings.Contains(r.stdout, "built") || !strings.Contains(r.stdout, runtime.Version()) {
			t.Errorf("imsfeed %s: exit %d\n%s%s", args[0], r.code, r.stdout, r.stderr)
		}
	}
}

// A night whose file did not change, and a paused night, are skips: their mail's "Current
// state" and `show --json` give the tenant's stored counts (as `status` does), not zeros.
func TestSkippedRunShowsTheStoredCounts(t *testing.T) {
	dir := t.TempDir()
	folder := filepath.Join(dir, "in")
	os.MkdirAll(folder, 0o755)
	data, _ := samples.Demo.ReadFile("demo/night1.xml")
	export := filepath.Join(folder, "night1.xml")
	os.WriteFile(export, data, 0o644)
	cfg := fmt.Sprintf("store: sqlite://%s/state.db\ndata_dir: %s\ntenants:\n  - id: north\n    source: {url: %q, settle: -1s}\n    subscribers: [it@north.example.org]\n", dir, dir, folder)
	os.WriteFile(filepath.Join(dir, "imsfeed.yaml"), []byte(cfg), 0o644)
	os.WriteFile(filepath.Join(dir, "paused.yaml"), []byte(cfg+"    paused: true\n"), 0o644)
	if r := imsfeed(t, dir, "run", "--tenant", "north"); r.code != 0 {
		t.Fatalf("first night: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var st struct {
		Persons     struct{ Active int }
		Groups      struct{ Active int }
		Memberships struct{ Synced int }
	}
	if r := imsfeed(t, dir, "status", "--tenant", "north", "--json"); r.code != 0 || json.Unmarshal([]byte(r.stdout), &st) != nil || st.Persons.Active == 0 {
		t.Fatalf("status: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	want := map[string]int{"persons": st.Persons.Active, "groups": st.Groups.Active, "memberships": st.Memberships.Synced}

	later := time.Now().Add(time.Minute)
	os.Chtimes(export, later, later) // touched, not changed: a skip
	for i, config := range []string{"imsfeed.yaml", "paused.yaml"} {
		run := 2 + i
		if r := imsfeed(t, dir, "--config", config, "run", "--tenant", "north", "--json"); r.code != 0 || !strings.Contains(r.stdout, `"status": "skipped"`) {
			t.Fatalf("%s: exit %d, want a skip\n%s\n%s", config, r.code, r.stdout, r.stderr)
		}
		r := imsfeed(t, dir, "show", strconv.Itoa(run), "--json")
		var shown struct{ Counts map[string]map[string]int }
		if err := json.Unmarshal([]byte(r.stdout), &shown); err != nil {
			t.Fatalf("show %d --json: %v\n%s", run, err, r.stdout)
		}
		mails, _ := filepath.Glob(filepath.Join(dir, "outbox", fmt.Sprintf("*-north-run%d.eml", run)))
		if len(mails) != 1 {
			t.Fatalf("run %d: %d mails, want 1", run, len(mails))
		}
		raw, _ := os.ReadFile(mails[0])
		_, text := mailText(t, string(raw))
		lines := strings.Split(text, "\n")
		for i, l := range lines {
			lines[i] = strings.Join(strings.Fields(l), " ")
		}
		if !slices.Contains(lines, "Current state:") {
			t.Errorf("%s: the mail has no current state:\n%s", config, text)
		}
		for name, n := range want {
			if c := shown.Counts[name]; c["before"] != n || c["after"] != n || c["inserted"]+c["updated"]+c["deleted"]+c["restored"]+c["archived"] != 0 {
				t.Errorf("%s: show --json %s %v, want %d before and after, no changes", config, name, c, n)
			}
			if row := fmt.Sprintf("%s %d 0 0 0 0 0 %d", name, n, n); !slices.Contains(lines, row) {
				t.Errorf("%s: the mail has no row %q:\n%s", config, row, text)
			}
		}
	}
}
