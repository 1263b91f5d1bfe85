package runs

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Sizes and times as people read them. The mail, the terminal and the progress bar all use
// these, so one file never reads "315.5 KiB" in one place and "323.0 kB" in another.

// SizeText is n bytes in binary units (KiB, MiB, GiB), as ls -lh and du -h count them.
func SizeText(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " bytes"
	}
	f, i := float64(n), 0
	for f >= unit && i < 4 {
		f /= unit
		i++
	}
	return fmt.Sprintf("%.1f %s", f, [...]string{"", "KiB", "MiB", "GiB", "TiB"}[i])
}

// SizeWithBytes is SizeText with the exact number of bytes after it, for a file's size
// (the mail, the console): "302.1 MiB (316,783,076 bytes)".
func SizeWithBytes(n int64) string {
	if n < 1024 {
		return SizeText(n)
	}
	return SizeText(n) + " (" + Group(n) + " bytes)"
}

// TimeLayout writes a time with its zone, so no reader has to guess which clock it is.
const TimeLayout = "2006-01-02 15:04:05 MST"

// TimeText is t in loc (the machine's zone when loc is nil), with the zone's name.
func TimeText(t time.Time, loc *time.Location) string {
	if loc == nil {
		loc = time.Local
	}
	return t.In(loc).Format(TimeLayout)
}

// Group writes n with thousands separators: 524,225.
func Group(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	var b []byte
	for i, c := range []byte(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b = append(b, ',')
		}
		b = append(b, c)
	}
	if neg {
		return "-" + string(b)
	}
	return string(b)
}

// Problem is the error's message without the position and record that readers put in front
// of it ("export.xml:11:54: record P1: …"), so a report can write those once, itself.
func (e *Error) Problem(file string) string {
	msg := e.Message
	if e.Line > 0 {
		pos := fmt.Sprintf("%d:%d: ", e.Line, e.Column)
		for _, p := range []string{file + ":" + pos, "line " + pos, pos} {
			if strings.HasPrefix(msg, p) {
				msg = msg[len(p):]
				break
			}
		}
	} else if file != "" {
		// A whole-file problem (too many records skipped, a safety trip) names its file too.
		msg = strings.TrimPrefix(msg, file+": ")
	}
	if e.Key != "" {
		msg = strings.TrimPrefix(msg, "record "+e.Key+": ")
	}
	return msg
}

// Text is the error as an editor jump target, each part once: file:line:column: record K: problem.
func (e *Error) Text(file string) string {
	var b strings.Builder
	if file != "" {
		b.WriteString(file)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d:%d", e.Line, e.Column)
		}
		b.WriteString(": ")
	} else if e.Line > 0 {
		fmt.Fprintf(&b, "line %d:%d: ", e.Line, e.Column)
	}
	if e.Key != "" {
		fmt.Fprintf(&b, "record %s: ", e.Key)
	}
	b.WriteString(e.Problem(file))
	return b.String()
}
