package mailer

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// textWidth is the widest line of the plain-text part: mail readers and terminals show 78
// columns without wrapping them for you (RFC 5322 §2.1.1 recommends 78).
const textWidth = 78

// renderText writes the plain-text part. Every SIS string in v is already one line; here it is
// wrapped to textWidth.
func renderText(v *view) string {
	var b strings.Builder
	para := func(s string) { b.WriteString(wrap(s, "", "")) }
	item := func(s string) { b.WriteString(wrap(s, "  - ", "    ")) }
	para(v.Headline)
	b.WriteString("\n")
	field := func(k, val string) {
		if val != "" {
			b.WriteString(wrap(val, fmt.Sprintf("%-10s ", k), strings.Repeat(" ", 11)))
		}
	}
	field("Tenant", v.Tenant)
	field("Run", fmt.Sprint(v.RunID))
	field("Status", v.Status)
	field("Mode", v.Mode)
	field("File", v.FileName)
	field("Size", v.Size)
	field("SHA-256", v.SHA256)
	field("Started", v.Started)
	field("Duration", v.Duration)
	field("Found dead", v.FoundDead)
	field("Waited", v.Waited)
	if v.Decision != "" {
		b.WriteString("\n")
		para(v.Decision)
	}
	if v.ConsoleURL != "" && v.Kind != kindHeld {
		b.WriteString("\nThis run in the console:\n")
		b.WriteString(wrap(v.ConsoleURL, "  ", "  "))
	}
	for _, n := range v.Notes {
		b.WriteString("\n")
		para(n)
	}
	if v.Error != "" {
		b.WriteString("\nReason:\n")
		b.WriteString(wrap(v.Error, "  ", "    "))
	}
	if len(v.Trips) > 0 {
		b.WriteString("\nLimits crossed:\n")
		for _, t := range v.Trips {
			item(t)
		}
	}
	if v.Kind == kindHeld {
		b.WriteString("\nTo apply exactly this change set:\n")
		b.WriteString(wrapCommand(v.Approve))
		b.WriteString("To reject it:\n")
		b.WriteString(wrapCommand(v.Reject))
		if v.ConsoleURL != "" {
			b.WriteString("To see every change, search them and decide in the console:\n")
			b.WriteString(wrap(v.ConsoleURL, "  ", "  "))
		}
	}
	if v.ShowTable {
		fmt.Fprintf(&b, "\n%s:\n", v.TableTitle)
		b.WriteString(countTable(v.Rows))
		for _, n := range v.TableNotes {
			b.WriteString(wrap(n, "  ", "    "))
		}
	}
	if len(v.Removals) > 0 {
		b.WriteString("\nWhere the removals come from (largest first):\n")
		for _, r := range v.Removals {
			item(r)
		}
		if v.RemovalsMore != "" {
			b.WriteString(wrap("... and "+v.RemovalsMore+", none losing more", "  ", "    "))
		}
	}
	more := func(n int) {
		if n > 0 {
			b.WriteString(wrap(fmt.Sprintf("... and %d more (imsfeed show %d lists them all)", n, v.RunID), "  ", "    "))
		}
	}
	for _, s := range v.Warnings {
		b.WriteString("\n")
		para(s.Title + ":")
		for _, w := range s.Items {
			item(w)
		}
		more(s.More)
	}
	if len(v.Attention) > 0 {
		b.WriteString("\nAttention:\n")
		for _, a := range v.Attention {
			item(a)
		}
		more(v.AttentionMore)
	}
	if v.Live != nil {
		v.Live.text(&b)
	}
	if v.CSVName != "" {
		s := fmt.Sprintf("%s lists the %d changes", v.CSVName, v.CSVRows)
		if v.CSVCut {
			s += fmt.Sprintf(" (the first %d; imsfeed show %d lists them all)", maxCSVRows, v.RunID)
		}
		b.WriteString("\n")
		para(s + ".")
	}
	b.WriteString("\n-- \nimsfeed status mail: one for every import attempt.\n")
	return b.String()
}

// countTable writes the counts with columns as narrow as their numbers allow. When the full
// column names do not fit textWidth (millions of memberships), it uses short ones and a key.
func countTable(rows []countRow) string {
	short := [7]string{"before", "ins", "upd", "del", "rest", "arch", "after"}
	build := func(heads [7]string) (string, int) {
		typeW := 0
		for _, r := range rows {
			typeW = max(typeW, len(r.Type))
		}
		var w [7]int
		for i, h := range heads {
			w[i] = len(h)
			for _, r := range rows {
				w[i] = max(w[i], len(strconv.Itoa(r.N[i])))
			}
		}
		var b strings.Builder
		widest := 0
		line := func(label string, cell func(i int) string) {
			s := "  " + label + strings.Repeat(" ", typeW-len(label))
			for i := range heads {
				c := cell(i)
				s += "  " + strings.Repeat(" ", w[i]-len(c)) + c
			}
			widest = max(widest, len(s))
			b.WriteString(s + "\n")
		}
		line("", func(i int) string { return heads[i] })
		for _, r := range rows {
			line(r.Type, func(i int) string { return strconv.Itoa(r.N[i]) })
		}
		return b.String(), widest
	}
	if t, w := build(countCols); w <= textWidth {
		return t
	}
	t, _ := build(short)
	return t + wrap("(ins inserted, upd updated, del deleted, rest restored, arch archived)", "  ", "  ")
}

// wrap breaks s into lines of at most textWidth columns: the first starts with first, the
// others with indent. A word longer than a line is cut (SIS text has such words; a mail line
// must not overflow for them).
func wrap(s, first, indent string) string {
	var lines []string
	cur, n, has := first, utf8.RuneCountInString(first), false
	for _, w := range strings.Fields(s) {
		for {
			wl, sep := utf8.RuneCountInString(w), 0
			if has {
				sep = 1
			}
			if n+sep+wl <= textWidth {
				if has {
					cur += " "
				}
				cur, n, has = cur+w, n+sep+wl, true
				break
			}
			if !has { // alone on a line and still too wide: cut it
				r := []rune(w)
				room := textWidth - n
				lines = append(lines, cur+string(r[:room]))
				w = string(r[room:])
			} else {
				lines = append(lines, cur)
			}
			cur, n, has = indent, utf8.RuneCountInString(indent), false
		}
	}
	lines = append(lines, strings.TrimRight(cur, " "))
	return strings.Join(lines, "\n") + "\n"
}

// wrapCommand writes a shell command to copy and paste, indented; a command wider than a line
// is continued with a backslash, which the shell reads as one line. It breaks only between
// words, never inside quotes.
func wrapCommand(cmd string) string {
	const indent, cont = "  ", "      "
	var b strings.Builder
	line := indent
	for i, word := range shellWords(cmd) {
		if i > 0 && utf8.RuneCountInString(line)+1+utf8.RuneCountInString(word)+2 > textWidth {
			b.WriteString(line + " \\\n")
			line = cont + word
			continue
		}
		if i > 0 {
			line += " "
		}
		line += word
	}
	return b.String() + line + "\n"
}

// shellWords splits a command at the spaces outside quotes, keeping the quotes.
func shellWords(cmd string) []string {
	var words []string
	var cur strings.Builder
	var quote rune
	for _, r := range cmd {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"':
			quote = r
		case r == ' ':
			if cur.Len() > 0 {
				words = append(words, cur.String())
				cur.Reset()
			}
			continue
		}
		cur.WriteRune(r)
	}
	if cur.Len() > 0 {
		words = append(words, cur.String())
	}
	return words
}
