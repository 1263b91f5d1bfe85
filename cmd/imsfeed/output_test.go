package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/samples/feedgen"
)

// `show RUN --plan | less` reads as a document: indented, no zeroed content hashes; --raw is
// still the exact stored plan whose SHA-256 the run records. Times carry their zone.
func TestShowPlanIsReadableAndTimesCarryTheirZone(t *testing.T) {
	if _, err := os.Stat("/usr/share/zoneinfo/Europe/Oslo"); err != nil {
		t.Skip("no time zone database on this machine")
	}
	t.Setenv("TZ", "Europe/Oslo")
	dir := t.TempDir()
	n1, n3 := writeDemo(t, dir, "night1.xml"), writeDemo(t, dir, "night3.xml")
	if r := imsfeed(t, dir, "import", "--tenant", "north", n1); r.code != 0 {
		t.Fatalf("import: %d %s", r.code, r.stderr)
	}
	r := imsfeed(t, dir, "import", "--tenant", "north", n3)
	if r.code != 3 {
		t.Fatalf("held import exit %d\n%s", r.code, r.stdout)
	}
	if !regexp.MustCompile(`started  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d CES?T`).MatchString(r.stdout) {
		t.Errorf("start time without its zone:\n%s", r.stdout)
	}
	id := regexp.MustCompile(`run (\d+)  north  HELD`).FindStringSubmatch(r.stdout)[1]

	plan := imsfeed(t, dir, "show", id, "--plan")
	if plan.code != 0 {
		t.Fatalf("show --plan: %d %s", plan.code, plan.stderr)
	}
	lines := strings.Split(plan.stdout, "\n")
	if len(lines) < 50 || !strings.HasPrefix(lines[1], "  \"") {
		t.Errorf("show --plan is not indented JSON:\n%.300s", plan.stdout)
	}
	for _, l := range lines {
		if len(l) > 200 {
			t.Errorf("show --plan has a %d-character line", len(l))
			break
		}
	}
	if strings.Contains(plan.stdout, `"hash"`) || strings.Contains(plan.stdout, "00000000000000000000000000000000") {
		t.Error("show --plan prints content hashes")
	}
	var p struct {
		Counts  map[string]map[string]int `json:"counts"`
		Persons []map[string]any          `json:"persons"`
	}
	if err := json.Unmarshal([]byte(plan.stdout), &p); err != nil {
		t.Fatalf("show --plan is not JSON: %v", err)
	}
	deletes := 0
	for _, x := range p.Persons {
		if x["op"] == "delete" && x["key"] != "" {
			deletes++
		}
	}
	if deletes == 0 || p.Counts["persons"]["deleted"] != deletes {
		t.Errorf("show --plan: %d person deletes, counts say %v", deletes, p.Counts["persons"])
	}

	raw := imsfeed(t, dir, "show", id, "--plan", "--raw")
	var run struct {
		PlanSHA256 string `json:"plan_sha256"`
	}
	if err := json.Unmarshal([]byte(imsfeed(t, dir, "show", id, "--json").stdout), &run); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(raw.stdout))
	if run.PlanSHA256 == "" || hex.EncodeToString(sum[:]) != run.PlanSHA256 {
		t.Errorf("show --plan --raw is not the stored plan (SHA-256 %x, run says %s)", sum, run.PlanSHA256)
	}

	if r := imsfeed(t, dir, "runs"); !regexp.MustCompile(`\d\d:\d\d CES?T`).MatchString(r.stdout) {
		t.Errorf("runs: times without their zone:\n%s", r.stdout)
	}
}

// planView is `show --plan`'s document made whole, as printPlan writes it a change at a time.
type planView struct {
	Tenant      string           `json:"tenant"`
	Mode        string           `json:"mode"`
	BaseVersion int64            `json:"base_version"`
	Counts      change.Counts    `json:"counts"`
	Attention   []change.Notice  `json:"attention,omitempty"`
	Persons     []personView     `json:"persons,omitempty"`
	Groups      []groupView      `json:"groups,omitempty"`
	Memberships []membershipView `json:"memberships,omitempty"`
	Relations   []relationView   `json:"relations,omitempty"`
}

// `show RUN --plan` prints a large hold a piece at a time (two reads of the stored plan, never
// the whole document in memory): the document is still the one the whole plan's view makes,
// across the pieces approval decodes (more than 8,192 changes in a list).
func TestShowPlanOfALargeHoldIsTheWholePlansView(t *testing.T) {
	if testing.Short() {
		t.Skip("imports two generated nights")
	}
	dir := t.TempDir()
	nights := make([]string, 2)
	for i, o := range []feedgen.Options{{}, {DropPercent: 50}} {
		o.Persons, o.Groups, o.MembersPerGroup, o.Seed = 3000, 600, 30, 7
		nights[i] = filepath.Join(dir, fmt.Sprintf("night%d.xml", i+1))
		f, err := os.Create(nights[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := feedgen.Write(f, o); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	if r := imsfeed(t, dir, "import", "--tenant", "north", nights[0]); r.code != 0 {
		t.Fatalf("import: %d %s", r.code, r.stderr)
	}
	r := imsfeed(t, dir, "import", "--tenant", "north", nights[1])
	if r.code != 3 {
		t.Fatalf("half the persons gone: exit %d, want 3 (held)\n%s%s", r.code, r.stdout, r.stderr)
	}
	id := regexp.MustCompile(`run (\d+)  north  HELD`).FindStringSubmatch(r.stdout)[1]

	shown := imsfeed(t, dir, "show", id, "--plan")
	if shown.code != 0 {
		t.Fatalf("show --plan: %d %s", shown.code, shown.stderr)
	}
	raw := imsfeed(t, dir, "show", id, "--plan", "--raw")
	var p change.Plan
	if err := json.Unmarshal([]byte(raw.stdout), &p); err != nil {
		t.Fatalf("show --plan --raw: %v", err)
	}
	if len(p.Memberships) <= 8192 || len(p.Persons) == 0 {
		t.Fatalf("the hold has %d persons and %d memberships: too few to cross a piece", len(p.Persons), len(p.Memberships))
	}
	v := planView{Tenant: p.Tenant, Mode: p.Mode, BaseVersion: p.BaseVersion, Counts: p.Counts, Attention: p.Attention}
	for _, c := range p.Persons {
		v.Persons = append(v.Persons, personViewOf(c))
	}
	for _, c := range p.Groups {
		v.Groups = append(v.Groups, groupViewOf(c))
	}
	for _, c := range p.Memberships {
		v.Memberships = append(v.Memberships, membershipViewOf(c))
	}
	for _, c := range p.Relations {
		v.Relations = append(v.Relations, relationViewOf(c))
	}
	var want strings.Builder
	if err := printJSON(&want, v); err != nil {
		t.Fatal(err)
	}
	if shown.stdout != want.String() {
		g, w := shown.stdout, want.String()
		i := 0
		for i < len(g) && i < len(w) && g[i] == w[i] {
			i++
		}
		t.Errorf("show --plan (%d bytes) differs from the whole plan's view (%d bytes) at byte %d:\n got %q\nwant %q",
			len(g), len(w), i, g[max(0, i-80):min(len(g), i+80)], w[max(0, i-80):min(len(w), i+80)])
	}
}
