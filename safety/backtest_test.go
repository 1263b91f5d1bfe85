package safety

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/imsfeed/imsfeed/record"
)

// loadHistory reads testdata/backtest/history.yaml into the backtest's input.
func loadHistory(t *testing.T) []Past {
	t.Helper()
	src, err := os.ReadFile("testdata/backtest/history.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var in struct {
		Runs []map[string]any `yaml:"runs"`
	}
	if err := yaml.Unmarshal(src, &in); err != nil {
		t.Fatal(err)
	}
	var out []Past
	for _, r := range in.Runs {
		p := Past{Run: int64(r["run"].(int)), Start: int64(r["day"].(int)) * 86400, Replay: true, Applied: true, Tripped: []Trip{}}
		switch o := r["outcome"].(string); o {
		case "undone":
			p.Outcome = Rejected
		case "undo":
			p.Replay, p.Accepted = false, true
		case "approved":
			p.Outcome, p.Accepted = Approved, true
		default:
			p.Outcome = Outcome(o)
			p.Applied = o == "passed"
		}
		p.Held, _ = r["held"].(bool)
		if tr, ok := r["tripped"].([]any); ok {
			for _, s := range tr {
				typ, op, _ := strings.Cut(s.(string), " ")
				p.Tripped = append(p.Tripped, Trip{Type: typ, Op: Op(op)})
			}
		}
		for _, typ := range record.AllTypes {
			m, _ := r[typ.String()].(map[string]any)
			n := func(k string) int { v, _ := m[k].(int); return v }
			p.Counts[typ] = TypeCounts{Base: n("base"), Inserts: n("inserts"), Updates: n("updates"), Deletes: n("deletes")}
		}
		out = append(out, p)
	}
	return out
}

func readPolicy(t *testing.T, file string) Policy {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	in := struct {
		Safety Policy `yaml:"safety"`
	}{Safety: DefaultPolicy()}
	if err := yaml.Unmarshal(src, &in); err != nil {
		t.Fatal(err)
	}
	return in.Safety
}

func golden(t *testing.T, file string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if *update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test ./safety -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test ./safety -update rewrites it); got:\n%s", file, got)
	}
}

// TestBacktestGolden replays the stored history with known held, approved and rejected runs
// through the default and a proposed policy, and suggests limits from it.
func TestBacktestGolden(t *testing.T) {
	t.Parallel()
	h := loadHistory(t)
	golden(t, "testdata/backtest/default.golden", Replay(h, DefaultPolicy(), 0))
	golden(t, "testdata/backtest/proposed.golden", Replay(h, readPolicy(t, "testdata/backtest/proposed.yaml"), 0))
	golden(t, "testdata/backtest/suggest.golden", Suggest(h, DefaultPolicy(), 0))
}

func ids(cs []Change) []int64 {
	out := []int64{}
	for _, c := range cs {
		out = append(out, c.Run)
	}
	return out
}

func TestBacktest(t *testing.T) {
	t.Parallel()
	h := loadHistory(t)
	loose := DefaultPolicy()
	loose.Types[record.Persons].Deletes = pct(20)
	loose.Types[record.Memberships].Deletes = pct(20)
	noWindow := DefaultPolicy()
	noWindow.WindowDays = 0
	tight := DefaultPolicy()
	tight.Types[record.Persons].Deletes = pct(2)
	for _, tc := range []struct {
		name string
		p    Policy
		last int
		want []int64
	}{
		{"the stored verdicts under the policy they were made with", DefaultPolicy(), 0, []int64{}},
		// 15.9% of persons removed passes a 20% limit: the rejected run 9 would have gone through.
		{"a looser deletes limit passes a rejected run", loose, 0, []int64{9}},
		// 3% persons deletes on night 3, 4.6% on night 4; night 6 removes 5, but 99 over 7d.
		{"a tighter limit holds normal nights", tight, 0, []int64{3, 4, 6}},
		// Runs 5-12 less the undo's own run 10; night 6's window still sees nights 1-4.
		{"--last lists replayed runs only, with their windows", tight, 7, []int64{6}},
		{"without a window the window changes nothing here", noWindow, 0, []int64{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ids(Replay(h, tc.p, tc.last).Changed); !equalIDs(got, tc.want) {
				t.Errorf("changed runs %v, want %v", got, tc.want)
			}
		})
	}
}

// TestBacktestWindow: a slow bleed of 9% a night passes each night but is held by the window
// on the second; the replay rebuilds the window from the applied runs before it, and an
// approved run starts it afresh.
func TestBacktestWindow(t *testing.T) {
	t.Parallel()
	night := func(run, day int, o Outcome, held bool) Past {
		p := Past{Run: int64(run), Start: int64(day) * 86400, Outcome: o, Held: held, Replay: true, Applied: o != Rejected && o != Open, Accepted: o == Approved}
		p.Counts[record.Persons] = TypeCounts{Base: 1000, Deletes: 90}
		return p
	}
	h := []Past{night(1, 1, Passed, false), night(2, 2, Passed, false)}
	if got := ids(Replay(h, DefaultPolicy(), 0).Changed); !equalIDs(got, []int64{2}) {
		t.Errorf("slow bleed: changed %v, want [2] (held over 7d)", got)
	}
	if c := Replay(h, DefaultPolicy(), 0).Changed; len(c) == 1 && (len(c[0].Tripped) != 1 || c[0].Tripped[0].String() != "persons deletes 18.0% > 10% over 7d") {
		t.Errorf("trips %v", c[0].Tripped)
	}
	h = []Past{night(1, 1, Approved, true), night(2, 2, Passed, false)}
	if got := ids(Replay(h, DefaultPolicy(), 0).Changed); !equalIDs(got, []int64{1}) {
		t.Errorf("after an approval: changed %v, want [1] (night 1 itself passes 9%%; night 2 starts afresh)", got)
	}
	h = []Past{night(1, 1, Passed, false), night(2, 9, Passed, false)}
	if got := ids(Replay(h, DefaultPolicy(), 0).Changed); len(got) != 0 {
		t.Errorf("8 days apart: changed %v, want none", got)
	}
}

func equalIDs(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
