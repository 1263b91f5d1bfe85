package safety

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
)

var update = flag.Bool("update", false, "rewrite testdata/scenarios/*.golden")

// TestScenarios runs realistic nights through the filter: each testdata/scenarios/NAME.yaml
// holds a tenant's safety block (optional) and a run's counts as the run record shows them;
// NAME.golden holds the verdict JSON and the lines the status mail would show.
func TestScenarios(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("testdata/scenarios/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			in := struct {
				Safety Policy        `yaml:"safety"`
				Counts change.Counts `yaml:"counts"`
				// Earlier is the rolling window before the run, per type (optional).
				Earlier map[string]struct {
					Base    int `yaml:"base"`
					Deletes int `yaml:"deletes"`
				} `yaml:"earlier"`
			}{Safety: DefaultPolicy()}
			if err := yaml.Unmarshal(src, &in); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			c := CountsFrom(in.Counts)
			for _, t := range record.Types {
				if e, ok := in.Earlier[t.String()]; ok {
					c[t].Earlier = Earlier{Base: e.Base, Deletes: e.Deletes}
				}
			}
			v := Check(c, in.Safety)
			out := struct {
				Verdict Verdict  `json:"verdict"`
				Mail    []string `json:"mail"`
			}{Verdict: v, Mail: []string{}}
			for _, tr := range v.Tripped {
				out.Mail = append(out.Mail, tr.String())
			}
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false) // keep "30.0% > 10%" readable
			enc.SetIndent("", "  ")
			if err := enc.Encode(out); err != nil {
				t.Fatal(err)
			}
			got := buf.Bytes()
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./safety -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s differs (go test ./safety -update rewrites it):\n--- got\n%s--- want\n%s", golden, got, want)
			}
		})
	}
}

// TestPolicyDoc keeps POLICY.md true: every yaml block in it is a valid safety block, and the
// first one (the defaults section) is exactly DefaultPolicy.
func TestPolicyDoc(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("POLICY.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(string(doc), "```yaml\n")[1:]
	if len(blocks) < 2 {
		t.Fatalf("POLICY.md has %d yaml blocks, want the defaults and an example", len(blocks))
	}
	for i, b := range blocks {
		b, _, _ = strings.Cut(b, "```")
		var in struct {
			Safety Policy `yaml:"safety"`
		}
		in.Safety = DefaultPolicy()
		if err := yaml.Unmarshal([]byte(b), &in); err != nil {
			t.Fatalf("POLICY.md yaml block %d: %v", i+1, err)
		}
		if i == 0 && in.Safety.String() != DefaultPolicy().String() {
			t.Fatalf("POLICY.md defaults say\n%v\nDefaultPolicy is\n%v", in.Safety, DefaultPolicy())
		}
	}
}
