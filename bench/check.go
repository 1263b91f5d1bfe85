package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
)

// The regression check (`make bench-check`): each case's time as a ratio to the tokens case of
// the same run, and its peak RSS, against the figures recorded in a file (bench/ratios.json).
// Ratios, not seconds: the machine's speed cancels out, and its load largely too, since each
// run of a case is paired with a tokens run just before it (the best paired ratio counts). A
// case fails when its ratio or its RSS exceeds the recorded one by more than the tolerance.

// recorded is one case's recorded figures.
type recorded struct {
	Ratio float64 `json:"ratio"`
	RSSMB float64 `json:"rss_mb"`
}

// ratioCheck collects a table's figures and compares them with the recorded ones.
type ratioCheck struct {
	path      string
	tolerance float64 // e.g. 1.3: 30 % worse fails
	update    bool    // write the figures measured instead of comparing
	got       map[string]map[string]recorded
}

// add records one row: file's base name, case, ratio to tokens, peak RSS in bytes.
func (c *ratioCheck) add(file, name string, ratio float64, rss int64) {
	if c.got == nil {
		c.got = map[string]map[string]recorded{}
	}
	f := filepath.Base(file)
	if c.got[f] == nil {
		c.got[f] = map[string]recorded{}
	}
	c.got[f][name] = recorded{Ratio: math.Round(ratio*100) / 100, RSSMB: math.Round(float64(rss) / 1e6)}
}

// finish writes the figures (update) or compares them, printing each regression to w.
func (c *ratioCheck) finish(w io.Writer) error {
	if c.update {
		want := map[string]map[string]recorded{}
		if data, err := os.ReadFile(c.path); err == nil {
			_ = json.Unmarshal(data, &want) // keep other files' figures
		}
		for f, cases := range c.got {
			want[f] = cases
		}
		data, err := json.MarshalIndent(want, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "recorded these figures in %s\n", c.path)
		return os.WriteFile(c.path, append(data, '\n'), 0o644)
	}
	data, err := os.ReadFile(c.path)
	if err != nil {
		return fmt.Errorf("bench check: %w (record figures with -update)", err)
	}
	var want map[string]map[string]recorded
	if err := json.Unmarshal(data, &want); err != nil {
		return fmt.Errorf("bench check: %s: %w", c.path, err)
	}
	var bad int
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
			g, r := c.got[f][n], want[f][n]
			if r == (recorded{}) {
				fmt.Fprintf(w, "check %s %s: nothing recorded (ratio %.2f, %.0f MB)\n", f, n, g.Ratio, g.RSSMB)
				continue
			}
			if r.Ratio > 0 && g.Ratio > r.Ratio*c.tolerance {
				fmt.Fprintf(w, "REGRESSION %s %s: ratio %.2f, recorded %.2f (tolerance ×%.2f)\n", f, n, g.Ratio, r.Ratio, c.tolerance)
				bad++
			}
			if r.RSSMB > 0 && g.RSSMB > r.RSSMB*c.tolerance {
				fmt.Fprintf(w, "REGRESSION %s %s: peak RSS %.0f MB, recorded %.0f MB (tolerance ×%.2f)\n", f, n, g.RSSMB, r.RSSMB, c.tolerance)
				bad++
			}
		}
	}
	if bad > 0 {
		return errors.New("bench check: " + fmt.Sprint(bad) + " regression(s) against " + c.path)
	}
	fmt.Fprintf(w, "no regression against %s (tolerance ×%.2f)\n", c.path, c.tolerance)
	return nil
}
