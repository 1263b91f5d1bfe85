package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// The regression check (`make bench-check`): each case's time as a ratio to the tokens case of
// the same run, and its peak RSS, against the figures recorded in a file (bench/ratios.json).
// Ratios, not seconds: the machine's speed cancels out, and its load largely too, since each
// run of a case is paired with a tokens run just before it (the fastest run of the case over
// the fastest of those tokens runs counts, bestRatio). A case fails when its ratio exceeds the
// recorded one by more than the tolerance (or its own, wider one), or its peak RSS the
// recorded one by more than the RSS tolerance: peak RSS hardly varies between runs, a ratio
// does, by up to a third between sittings on a shared machine (README, "make bench-check").
//
// A case over its limit is measured once more before it is reported (the again function its
// caller gives): only a regression that persists fails, judged on the better of the two
// measurements. A burst of load from another job passes; a case that stays over its limit does
// not. What that catches, and what the noise hides, is measured in README ("make bench-check").

// recorded is one case's figures.
type recorded struct {
	Ratio float64 `json:"ratio"`
	RSSMB float64 `json:"rss_mb"`
	// Tolerance, set by hand, is the case's own ratio tolerance where its ratio varies more
	// than the others' between sittings (it applies when wider than the check's; recording
	// again keeps it).
	Tolerance float64 `json:"tolerance,omitempty"`
}

// measured is what the check saw of one case: the figures it judges (the better of the two
// measurements when it measured twice), the first measurement and the second.
type measured struct {
	recorded
	first, again recorded
	twice        bool
}

// ratioCheck collects a table's figures and compares them with the recorded ones.
type ratioCheck struct {
	path         string
	tolerance    float64 // ratios, e.g. 1.3: 30 % worse fails
	rssTolerance float64 // peak RSS; 0: the same as tolerance
	update       bool    // write the figures measured instead of comparing
	got          map[string]map[string]measured

	want    map[string]map[string]recorded // read from path on first use
	wantErr error
	read    bool
}

// again measures a case once more and returns its ratio and peak RSS in bytes.
type again func() (ratio float64, rss int64, err error)

// String is "ratio R, peak RSS M MB", without the RSS when there is none (the live writes).
func (r recorded) String() string {
	if r.RSSMB == 0 {
		return fmt.Sprintf("ratio %.2f", r.Ratio)
	}
	return fmt.Sprintf("ratio %.2f, peak RSS %.0f MB", r.Ratio, r.RSSMB)
}

func figures(ratio float64, rss int64) recorded {
	return recorded{Ratio: math.Round(ratio*100) / 100, RSSMB: math.Round(float64(rss) / 1e6)}
}

// load reads the recorded figures, once.
func (c *ratioCheck) load() {
	if c.read {
		return
	}
	c.read = true
	data, err := os.ReadFile(c.path)
	if err == nil {
		if err = json.Unmarshal(data, &c.want); err != nil {
			err = fmt.Errorf("%s: %w", c.path, err)
		}
	} else if !c.update {
		err = fmt.Errorf("%w (record figures with -update)", err)
	}
	c.wantErr = err
}

// recordedFor returns the figures recorded for file's case name (zero if none).
func (c *ratioCheck) recordedFor(file, name string) recorded {
	c.load()
	return c.want[filepath.Base(file)][name]
}

// over says which of g's figures exceed r's beyond the tolerances ("" when none do).
func (c *ratioCheck) over(g, r recorded) string {
	var bad []string
	if t := max(c.tolerance, r.Tolerance); r.Ratio > 0 && g.Ratio > r.Ratio*t {
		bad = append(bad, fmt.Sprintf("ratio %.2f, recorded %.2f (limit %.3f: ×%.2f)", g.Ratio, r.Ratio, r.Ratio*t, t))
	}
	if t := c.rssLimit(); r.RSSMB > 0 && g.RSSMB > r.RSSMB*t {
		bad = append(bad, fmt.Sprintf("peak RSS %.0f MB, recorded %.0f MB (limit %.0f MB: ×%.2f)", g.RSSMB, r.RSSMB, r.RSSMB*t, t))
	}
	return strings.Join(bad, "; ")
}

func (c *ratioCheck) rssLimit() float64 {
	if c.rssTolerance > 0 {
		return c.rssTolerance
	}
	return c.tolerance
}

// add records one case's figures: file's base name, case, ratio, peak RSS in bytes. When they
// are over the recorded ones and more is not nil, the case is measured again and the better
// of the two measurements (the lower ratio, the lower RSS) is what finish judges. Recording
// (update), every case is measured twice and the better of the two is recorded: the same
// figure as the check's when it measures twice.
func (c *ratioCheck) add(w io.Writer, file, name string, ratio float64, rss int64, more again) error {
	if c.got == nil {
		c.got = map[string]map[string]measured{}
	}
	f := filepath.Base(file)
	if c.got[f] == nil {
		c.got[f] = map[string]measured{}
	}
	g := figures(ratio, rss)
	m := measured{recorded: g, first: g}
	why := c.over(g, c.recordedFor(file, name))
	if more != nil && (c.update || why != "") {
		verb := "check"
		if c.update { // record what the check judges a case by when it measures it twice
			verb, why = "record", g.String()
		}
		fmt.Fprintf(w, "%s %s %s: %s; measuring it again\n", verb, f, name, why)
		ratio2, rss2, err := more()
		if err != nil {
			return err
		}
		g2 := figures(ratio2, rss2)
		m = measured{recorded: recorded{Ratio: min(g.Ratio, g2.Ratio), RSSMB: min(g.RSSMB, g2.RSSMB)}, first: g, again: g2, twice: true}
		fmt.Fprintf(w, "%s %s %s: again %s\n", verb, f, name, g2)
	}
	c.got[f][name] = m
	return nil
}

// finish writes the figures (update) or compares them, printing each regression to w.
func (c *ratioCheck) finish(w io.Writer) error {
	c.load()
	if c.update {
		want := c.want
		if want == nil {
			want = map[string]map[string]recorded{}
		}
		// The cases measured are recorded anew (keeping their tolerance); the others of the
		// same file keep theirs: a run of some cases (-ops, BENCH_CASES) records only those.
		for f, cases := range c.got {
			if want[f] == nil {
				want[f] = map[string]recorded{}
			}
			for n, m := range cases {
				r := m.recorded
				r.Tolerance = want[f][n].Tolerance
				want[f][n] = r
			}
		}
		data, err := json.MarshalIndent(want, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "recorded these figures in %s\n", c.path)
		return os.WriteFile(c.path, append(data, '\n'), 0o644)
	}
	if c.wantErr != nil {
		return fmt.Errorf("bench check: %w", c.wantErr)
	}
	var bad int
	withRSS := false // the live writes have none
	files := make([]string, 0, len(c.got))
	for f := range c.got {
		files = append(files, f)
	}
	sort.Strings(files)
	for _, f := range files {
		names := make([]string, 0, len(c.got[f]))
		for n := range c.got[f] {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			g, r := c.got[f][n], c.want[f][n]
			withRSS = withRSS || g.RSSMB > 0
			if r == (recorded{}) {
				fmt.Fprintf(w, "check %s %s: nothing recorded (%s)\n", f, n, g.recorded)
				continue
			}
			why := c.over(g.recorded, r)
			switch {
			case why != "" && g.twice:
				fmt.Fprintf(w, "REGRESSION %s %s: %s; measured twice (%s, then %s; the better of each counts)\n", f, n, why, g.first, g.again)
				bad++
			case why != "":
				fmt.Fprintf(w, "REGRESSION %s %s: %s\n", f, n, why)
				bad++
			case g.twice:
				fmt.Fprintf(w, "check %s %s: over its limit at first (%s), not again (%s): noise, not a regression\n", f, n, g.first, g.again)
			}
		}
	}
	if bad > 0 {
		return fmt.Errorf("bench check: %d regression(s) against %s", bad, c.path)
	}
	limits := fmt.Sprintf("ratios ×%.2f", c.tolerance)
	if withRSS {
		limits += fmt.Sprintf(", peak RSS ×%.2f", c.rssLimit())
	}
	fmt.Fprintf(w, "no regression against %s (%s)\n", c.path, limits)
	return nil
}

// bestRatio is a case's fastest run over the fastest of the baseline runs paired with its runs
// (each pair: baseline seconds, case seconds). On a shared machine another job slows a run far
// more often than anything speeds one, so the fastest run of each is the least disturbed; the
// pairs keep the two from the same stretch of time. Not the best of the pairs' own ratios: a
// baseline run slowed by another job gives its pair a low ratio, and the best pair is then that
// accident (in the sittings measured, such pairs were 25 % below the sitting's other pairs).
func bestRatio(pairs [][2]float64) float64 {
	base, fastest := 0.0, 0.0
	for _, p := range pairs {
		if p[0] <= 0 || p[1] <= 0 {
			continue
		}
		if base == 0 || p[0] < base {
			base = p[0]
		}
		if fastest == 0 || p[1] < fastest {
			fastest = p[1]
		}
	}
	if base == 0 {
		return 0
	}
	return fastest / base
}

// bestPair is the lowest of the pairs' own ratios (each pair: baseline, case). The live writes'
// measure: what slows a CPU time per request on a shared machine (a busy sibling core, a lower
// clock) slows both runs of a pair alike, so a pair's own ratio holds; in the sittings measured
// the best pair varied between sittings by ×1.18 to ×1.26, the least CPU of the write over the
// least of the bare handler by up to ×1.45.
func bestPair(pairs [][2]float64) float64 {
	best := 0.0
	for _, p := range pairs {
		if p[0] <= 0 {
			continue
		}
		if q := p[1] / p[0]; best == 0 || q < best {
			best = q
		}
	}
	return best
}
