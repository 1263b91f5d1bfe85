package main

import (
	"bufio"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"time"
)

// result is what one case reports from its child process (as one JSON line).
type result struct {
	Case    string         `json:"case"`
	File    string         `json:"file"`
	Bytes   int64          `json:"bytes"`
	Seconds float64        `json:"seconds"` // the measured work only, not process start-up
	Counts  map[string]int `json:"counts,omitempty"`
	// Phases are the seconds of a case's parts (the import cases: open, loadstate, read+diff, apply).
	Phases map[string]float64 `json:"phases,omitempty"`
	MaxRSS int64              `json:"max_rss,omitempty"` // bytes; filled in by the parent
}

// A case measures one thing over one file. run does the work and returns what it counted;
// the timing around it is runCase's.
type benchCase struct {
	name, about string
	run         func(ctx context.Context, f *os.File) (map[string]int, error)
	// phased, set in place of run, also reports how long each part took.
	phased func(ctx context.Context, f *os.File) (map[string]int, map[string]float64, error)
	// once: the case makes its own input, so it runs for the first FILE only. It reports the
	// size of what it read as counts["bytes"].
	once bool
}

// cases lists every benchmark. tokens is the baseline the others are compared with.
// The import cases (import.go) read more arguments from the environment (e.g. a database URL).
var cases = append([]benchCase{
	{name: "tokens", about: "a bare encoding/xml Decoder.Token() loop", run: tokenLoop},
	{name: "read", about: "the project's reader as an import uses it (snapshot mode, duplicates left to the diff, records built aside), with a counting handler", run: imsRead},
	{name: "read-validate", about: "the reader as `imsfeed validate` uses it: its own duplicate-key set", run: imsReadValidate},
	{name: "read-event", about: "ims.Read in event mode", run: imsReadEvent},
}, append(importCases(), nightCase(), consoleCase())...)

func findCase(name string) (benchCase, bool) {
	for _, c := range cases {
		if c.name == name {
			return c, true
		}
	}
	return benchCase{}, false
}

// runCase runs case name on file in this process and times it.
func runCase(ctx context.Context, name, file string) (*result, error) {
	c, ok := findCase(name)
	if !ok {
		return nil, fmt.Errorf("%w: unknown case %q (bench list shows them)", errUsage, name)
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	var counts map[string]int
	var phases map[string]float64
	if c.phased != nil {
		counts, phases, err = c.phased(ctx, f)
	} else {
		counts, err = c.run(ctx, f)
	}
	if err != nil {
		return nil, fmt.Errorf("case %s on %s: %w", name, file, err)
	}
	size := st.Size()
	if n, ok := counts["bytes"]; ok && c.once {
		size = int64(n)
		delete(counts, "bytes")
	}
	return &result{Case: name, File: file, Bytes: size, Seconds: time.Since(start).Seconds(), Counts: counts, Phases: phases}, nil
}

// tokenLoop is the baseline: what reading the bytes as XML costs, with nothing done per token.
func tokenLoop(ctx context.Context, f *os.File) (map[string]int, error) {
	d := xml.NewDecoder(bufio.NewReaderSize(f, 1<<16))
	var tokens, elements int
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			line, col := d.InputPos()
			return nil, fmt.Errorf("%s:%d:%d: %w", f.Name(), line, col, err)
		}
		tokens++
		if _, ok := tok.(xml.StartElement); ok {
			elements++
			if elements&0xffff == 0 && ctx.Err() != nil {
				return nil, ctx.Err()
			}
		}
	}
	return map[string]int{"tokens": tokens, "elements": elements}, nil
}
