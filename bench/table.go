package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// baseline is the case every other case's time is compared with.
const baseline = "tokens"

// Targets shown next to the figures: issue 2's for the reader, issue 18's for the imports (set
// for PostgreSQL on the 317 MB feed; SQLite is held to the same for comparison). maxRatio 0: no
// time target. The regression check (check.go) compares with recorded figures instead.
var targets = map[string]struct {
	maxRatio float64 // time / baseline time
	maxRSS   int64   // bytes
}{
	"read":             {maxRatio: 1.0, maxRSS: 100e6},
	"read-validate":    {maxRatio: 1.0, maxRSS: 100e6},
	"read-event":       {maxRatio: 1.0, maxRSS: 100e6},
	"pg-initial":       {maxRatio: 0.6, maxRSS: 300e6},
	"pg-1pct":          {maxRatio: 0.45, maxRSS: 300e6},
	"pg-unchanged":     {maxRatio: 0.45, maxRSS: 300e6},
	"sqlite-initial":   {maxRatio: 0.6, maxRSS: 300e6},
	"sqlite-1pct":      {maxRatio: 0.45, maxRSS: 300e6},
	"sqlite-unchanged": {maxRatio: 0.45, maxRSS: 300e6},
}

// runner runs one case over one file in a child process and returns its result with MaxRSS.
type runner func(ctx context.Context, name, file string) (*result, error)

// childRunner runs exe ("bench") as `exe case NAME FILE`, with env added to its environment.
func childRunner(exe string, env ...string) runner {
	return func(ctx context.Context, name, file string) (*result, error) {
		cmd := exec.CommandContext(ctx, exe, "case", name, file)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		cmd.Env = append(os.Environ(), env...)
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("case %s on %s: %v: %s", name, file, err, strings.TrimSpace(stderr.String()))
		}
		var r result
		if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("case %s on %s: reading its result %q: %v", name, file, stdout.String(), err)
		}
		r.MaxRSS = maxRSS(cmd.ProcessState)
		return &r, nil
	}
}

// table runs each case on each file runs times (each in its own child) and prints one row per
// file and case as soon as it is measured: the fastest run's time and the largest peak RSS.
func table(ctx context.Context, w io.Writer, run runner, names, files []string, runs int) error {
	return checkedTable(ctx, w, run, names, files, runs, nil)
}

// checkedTable is table, with each row's ratio and RSS also given to check (when not nil),
// which then compares them with the recorded ones (or records them).
func checkedTable(ctx context.Context, w io.Writer, run runner, names, files []string, runs int, check *ratioCheck) error {
	for _, n := range names {
		if _, ok := findCase(n); !ok {
			return fmt.Errorf("%w: unknown case %q (bench list shows them)", errUsage, n)
		}
	}
	fmt.Fprintf(w, "MB = 10^6 bytes; seconds: fastest of %d run(s), each case in its own process; RSS: largest peak\n", runs)
	fmt.Fprintf(w, "%-22s %9s  %-16s %8s %8s %10s %11s  %s\n", "file", "size MB", "case", "seconds", "MB/s", "peak RSS", "vs "+baseline, "targets / counts")
	failed := 0
	for i, file := range files {
		var base *result
		for _, n := range names {
			c, _ := findCase(n)
			if c.once && i > 0 {
				continue
			}
			paired := check != nil && base != nil && n != baseline && !c.once
			best, pairs, err := measureCase(ctx, run, n, file, runs, paired)
			if err != nil {
				return err
			}
			if n == baseline {
				base = best
			}
			ratio, verdict, judged := "", "", 0.0
			if base != nil && n != baseline && base.Seconds > 0 && !c.once { // a once case reads other input
				q := best.Seconds / base.Seconds
				if paired {
					q = bestRatio(pairs)
				}
				ratio = fmt.Sprintf("%.2f", q)
				judged = q
				if t, ok := targets[n]; ok {
					okRatio, okRSS := t.maxRatio == 0 || q <= t.maxRatio, best.MaxRSS > 0 && best.MaxRSS < t.maxRSS
					if t.maxRatio > 0 {
						verdict = fmt.Sprintf("ratio ≤ %s %s, ", strconv.FormatFloat(t.maxRatio, 'f', -1, 64), mark(okRatio))
					}
					verdict += fmt.Sprintf("RSS < %d MB %s; ", t.maxRSS/1e6, mark(okRSS))
					if !okRatio || !okRSS {
						failed++
					}
				}
			}
			rss := "?"
			if best.MaxRSS > 0 {
				rss = fmt.Sprintf("%.1f MB", float64(best.MaxRSS)/1e6)
			}
			fmt.Fprintf(w, "%-22s %9.1f  %-16s %8.2f %8.1f %10s %11s  %s%s%s\n", filepath.Base(file),
				float64(best.Bytes)/1e6, n, best.Seconds, float64(best.Bytes)/1e6/best.Seconds, rss, ratio,
				verdict, counts(best.Counts), phases(best.Phases))
			if paired {
				fmt.Fprintf(w, "%-22s %9s  %-16s %s\n", "", "", "", pairsLine(pairs))
			}
			if check != nil && judged > 0 {
				more := func() (float64, int64, error) { // the case again, with as many pairs
					r, pairs, err := measureCase(ctx, run, n, file, runs, true)
					if err != nil {
						return 0, 0, err
					}
					fmt.Fprintf(w, "%-22s %9s  %-16s again: %s\n", "", "", "", pairsLine(pairs))
					return bestRatio(pairs), r.MaxRSS, nil
				}
				if err := check.add(w, file, n, judged, best.MaxRSS, more); err != nil {
					return err
				}
			}
		}
	}
	if failed > 0 {
		fmt.Fprintf(w, "%d row(s) miss a target\n", failed)
	} else {
		fmt.Fprintln(w, "all targets met")
	}
	if check != nil {
		return check.finish(w)
	}
	return nil
}

// measureCase runs case n on file runs times and returns the fastest run, with the largest peak
// RSS of them all. With paired, each run comes right after a baseline run, and pairs holds the
// seconds of each (baseline, case) pair: on a shared machine the load drifts between cases, and
// a pair compares like with like.
func measureCase(ctx context.Context, run runner, n, file string, runs int, paired bool) (best *result, pairs [][2]float64, err error) {
	var peak int64
	for range runs {
		var before *result
		if paired {
			if before, err = run(ctx, baseline, file); err != nil {
				return nil, nil, err
			}
		}
		r, err := run(ctx, n, file)
		if err != nil {
			return nil, nil, err
		}
		peak = max(peak, r.MaxRSS)
		if best == nil || r.Seconds < best.Seconds {
			best = r
		}
		if before != nil {
			pairs = append(pairs, [2]float64{before.Seconds, r.Seconds})
		}
	}
	best.MaxRSS = peak
	return best, pairs, nil
}

// pairsLine shows each pair's own ratio: how much the sitting's noise moved them.
func pairsLine(pairs [][2]float64) string {
	var each []string
	for _, p := range pairs {
		each = append(each, fmt.Sprintf("%.2f", p[1]/p[0]))
	}
	return fmt.Sprintf("pairs: %s; fastest over fastest %.2f", strings.Join(each, " "), bestRatio(pairs))
}

func mark(ok bool) string {
	if ok {
		return "ok"
	}
	return "MISSED"
}

// phases shows where a case's time went, in the order the import does them.
func phases(p map[string]float64) string {
	var parts []string
	for _, k := range []string{"open", "loadstate", "rest-load", "rest-wait", "read+diff", "apply", "stats", "night", "fetch-wait", "import", "sqlite-hold-rows", "pg-hold-rows", "approve"} {
		if v, ok := p[k]; ok {
			parts = append(parts, fmt.Sprintf("%s %.2fs", k, v))
		}
	}
	// The console case's times to first byte, in milliseconds.
	for _, k := range []string{"ttfb-first", "ttfb-page1", "ttfb-search-key", "ttfb-search-name", "ttfb-page100", "ttfb-last", "ttfb-type",
		"sqlite-page1", "sqlite-search-key", "sqlite-search-name", "sqlite-page100", "sqlite-last",
		"pg-page1", "pg-search-key", "pg-search-name", "pg-page100", "pg-last"} {
		if v, ok := p[k]; ok {
			parts = append(parts, fmt.Sprintf("%s %.1fms", k, v*1000))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "; time: " + strings.Join(parts, ", ")
}

func counts(c map[string]int) string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, c[k])
	}
	return strings.Join(parts, ", ")
}
