package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/imsfeed/imsfeed/runs"
)

// progress owns one line of the terminal while a run works: the phase it is in and for how
// long ("loading the stored state  3s"), the read as a bar with its rate and time left, the
// apply as a count of changes written. Log lines written through it go above the line, which
// is then drawn again; a tick redraws it, so a slow phase still shows time passing.
type progress struct {
	mu  sync.Mutex
	w   io.Writer // the terminal
	now func() time.Time

	phase      string
	phaseAt    time.Time
	read, size int64
	readAt     time.Time // when the first byte came: the rate counts from there
	done, todo int       // the apply's changes written, of todo
	drawn      bool      // a line is on the screen
	lastDraw   time.Time
	stopped    bool
}

func newProgress(w io.Writer, now func() time.Time) *progress {
	return &progress{w: w, now: now}
}

// status starts a phase.
func (p *progress) status(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.phase, p.phaseAt, p.done, p.todo = msg, p.now(), 0, 0
	p.draw(true)
}

// bytes is told how much of the file was read.
func (p *progress) bytes(read, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.readAt.IsZero() {
		p.readAt, p.phase, p.phaseAt = p.now(), "reading", p.now()
	}
	p.read, p.size = read, total
	p.draw(read >= total)
}

// applying is told how many changes the apply has written.
func (p *progress) applying(done, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done, p.todo = done, total
	p.draw(done >= total)
}

// Write puts a log line above the progress line.
func (p *progress) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		io.WriteString(p.w, "\r\033[K")
		p.drawn = false
	}
	n, err := p.w.Write(b)
	p.draw(true)
	return n, err
}

// run redraws the line every quarter second until stop; when ctx ends first (Ctrl-C), it
// moves off the line the terminal echoed ^C onto, so what follows starts on a clean line.
func (p *progress) run(ctx context.Context) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		interrupted := func() {
			p.mu.Lock()
			io.WriteString(p.w, "\r\033[K")
			if p.phase != "" && !p.stopped {
				fmt.Fprintf(p.w, "interrupted while %s\n", p.phase)
			}
			p.drawn, p.stopped = false, true
			p.mu.Unlock()
		}
		for {
			select {
			case <-done:
				if ctx.Err() != nil {
					interrupted()
				}
				return
			case <-ctx.Done():
				interrupted()
				return
			case <-t.C:
				p.mu.Lock()
				p.draw(true)
				p.mu.Unlock()
			}
		}
	}()
	return func() {
		close(done)
		<-finished
		p.clear()
	}
}

// clear takes the line off the screen and stops drawing it.
func (p *progress) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		io.WriteString(p.w, "\r\033[K")
	}
	p.drawn, p.stopped = false, true
}

// draw writes the line, at most ten times a second unless force.
func (p *progress) draw(force bool) {
	if p.stopped || p.phase == "" {
		return
	}
	now := p.now()
	if !force && now.Sub(p.lastDraw) < 100*time.Millisecond {
		return
	}
	p.lastDraw = now
	io.WriteString(p.w, "\r\033[K"+p.line(now))
	p.drawn = true
}

func (p *progress) line(now time.Time) string {
	if p.phase == "reading" && p.size > 0 {
		frac := min(float64(p.read)/float64(p.size), 1)
		const width = 24
		n := int(frac * width)
		s := fmt.Sprintf("reading [%s%s] %3.0f%%  %s of %s", strings.Repeat("=", n), strings.Repeat(" ", width-n), frac*100,
			runs.SizeText(p.read), runs.SizeText(p.size))
		if secs := now.Sub(p.readAt).Seconds(); secs >= 0.5 && p.read > 0 {
			rate := float64(p.read) / secs
			s += "  " + runs.SizeText(int64(rate)) + "/s"
			if p.read < p.size {
				s += "  " + clock(time.Duration(float64(p.size-p.read)/rate*float64(time.Second))) + " left"
			}
		}
		return s
	}
	s := p.phase
	if p.todo > 0 {
		s += fmt.Sprintf(": %s of %s changes written (%.0f%%)", runs.Group(int64(p.done)), runs.Group(int64(p.todo)), 100*float64(p.done)/float64(p.todo))
		if p.done >= p.todo {
			s += ", committing"
		}
	}
	return s + "  " + clock(now.Sub(p.phaseAt))
}

// clock writes a duration as m:ss.
func clock(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("%d:%02d", int(d.Minutes()), int(d.Seconds())%60)
}
