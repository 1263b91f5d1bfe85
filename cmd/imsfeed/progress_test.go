package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// screen is a fake terminal: it keeps what a person would see, applying \r and the
// erase-line sequence, so a test can read the lines and the line being drawn.
type screen struct{ lines []string }

func (s *screen) Write(b []byte) (int, error) {
	if len(s.lines) == 0 {
		s.lines = []string{""}
	}
	text := strings.ReplaceAll(string(b), "\033[K", "\x00")
	for _, r := range text {
		last := &s.lines[len(s.lines)-1]
		switch r {
		case '\r':
			*last = "\r" // the cursor is at the start: what follows overwrites
		case '\x00':
			*last = strings.TrimPrefix(*last, "\r")
			*last = "" // erase the line (the cursor is at its start in our use)
		case '\n':
			*last = strings.TrimPrefix(*last, "\r")
			s.lines = append(s.lines, "")
		default:
			if strings.HasPrefix(*last, "\r") {
				*last = ""
			}
			*last += string(r)
		}
	}
	return len(b), nil
}

func (s *screen) current() string { return s.lines[len(s.lines)-1] }

// The progress line shows each phase with its time (no blank while the state loads), the read
// with a rate counted from its first byte and the time left, the apply's progress; a log line
// lands above the line, not inside it; stop leaves the line clean.
func TestProgressLineOwnsTheTerminalLine(t *testing.T) {
	scr := &screen{}
	clock := time.Date(2026, 11, 30, 2, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	p := newProgress(scr, now)

	p.status("loading the stored state")
	clock = clock.Add(4 * time.Second)
	p.draw(true) // the tick
	if got := scr.current(); got != "loading the stored state  0:04" {
		t.Errorf("while the state loads the line is %q", got)
	}

	// The read starts 4 s in: the rate counts from then, not from the start.
	p.bytes(1<<20, 10<<20)
	clock = clock.Add(time.Second)
	p.bytes(5<<20, 10<<20)
	got := scr.current()
	for _, want := range []string{"reading [", " 50%", "5.0 MiB of 10.0 MiB", "5.0 MiB/s", "0:01 left"} {
		if !strings.Contains(got, want) {
			t.Errorf("read line %q lacks %q", got, want)
		}
	}

	log := slog.New(slog.NewTextHandler(p, nil))
	log.Warn("queued status mails still waiting")
	if n := len(scr.lines); n != 2 || !strings.Contains(scr.lines[0], "queued status mails still waiting") || !strings.HasPrefix(scr.lines[1], "reading [") {
		t.Errorf("a log line did not land above the progress line: %q", scr.lines)
	}

	p.status("applying the changes in one transaction")
	clock = clock.Add(7 * time.Second)
	p.applying(262112, 524225)
	if got, want := scr.current(), "applying the changes in one transaction: 262,112 of 524,225 changes written (50%)  0:07"; got != want {
		t.Errorf("apply line %q, want %q", got, want)
	}
	p.applying(524225, 524225)
	if got := scr.current(); !strings.Contains(got, "524,225 of 524,225 changes written (100%), committing") {
		t.Errorf("apply line at the end %q", got)
	}

	p.clear()
	if got := scr.current(); got != "" {
		t.Errorf("after stop the line still shows %q", got)
	}
	p.status("too late")
	if got := scr.current(); got != "" {
		t.Errorf("a stopped progress drew %q", got)
	}
}

// Ctrl-C: the line the terminal echoed ^C onto is cleared and says what was interrupted, so
// the messages that follow start on a line of their own.
func TestProgressLineOnInterrupt(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, time.Now)
	ctx, cancel := context.WithCancel(context.Background())
	stop := p.run(ctx)
	p.status("reading")
	cancel()
	stop()
	if out := buf.String(); !strings.HasSuffix(out, "\r\033[Kinterrupted while reading\n") {
		t.Errorf("after Ctrl-C the terminal shows %q", out)
	}
}
