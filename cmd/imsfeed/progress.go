package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// progressBar draws one line on a terminal, at most a few times a second.
type progressBar struct {
	w     io.Writer
	label string
	last  time.Time
	start time.Time
	done  bool
}

func newProgressBar(w io.Writer, label string) *progressBar {
	return &progressBar{w: w, label: label, start: time.Now()}
}

func (p *progressBar) update(read, total int64) {
	if p.done || total <= 0 {
		return
	}
	if read < total && time.Since(p.last) < 200*time.Millisecond {
		return
	}
	p.last = time.Now()
	frac := float64(read) / float64(total)
	const width = 30
	n := int(frac * width)
	rate := float64(read) / (1 << 20) / time.Since(p.start).Seconds()
	fmt.Fprintf(p.w, "\r%s [%s%s] %3.0f%% %.0f MB/s", p.label, strings.Repeat("=", n), strings.Repeat(" ", width-n), frac*100, rate)
	if read >= total {
		fmt.Fprintln(p.w)
		p.done = true
	}
}
