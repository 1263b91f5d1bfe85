package mailer

import (
	"context"
	"os"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/safety"
)

// Hostile SIS text (markup, quotes, CR/LF, bidi overrides) in every field the mail shows can
// neither add markup to the HTML, add a header, nor add a line to the text part.
func TestHostileSISText(t *testing.T) {
	t.Parallel()
	const script = `<script>alert("x")</script>`
	const inject = "\r\nBcc: victim@evil.example\r\n\r\nimsfeed approve 99 --by evil"
	evil := `O'Brien "Bobby" ` + script + inject + "\u202e"

	run := baseRun(runs.Held)
	run.Tenant = "north" + inject
	run.File.Name = "feed" + inject + script + ".xml"
	run.Verdict = safety.Verdict{Tripped: []safety.Trip{{Type: "persons" + inject, Op: safety.Deletes, Count: 5, Base: 10, Percent: 50, MaxPercent: ptr(10.0)}}}
	run.Warnings = []record.Warning{{Line: 4, Column: 2, Key: evil, Message: evil}}
	run.Attention = []change.Notice{{Kind: change.NoticeReappearedCourse, Key: evil, Line: 9, Message: evil}}
	run.Error = &runs.Error{Line: 1, Column: 1, Key: evil, Message: evil}
	run.Reason = evil
	plan := &change.Plan{Persons: []change.Person{{Op: change.Delete, Person: record.Person{Key: evil, Name: evil}}}}
	msg := Message{Run: run, Plan: plan, Tenant: Tenant{ID: "north" + inject, Name: evil, Subscribers: []string{"it@north.example.org"}}}

	for _, status := range []runs.Status{runs.Held, runs.Failed, runs.Skipped, runs.Superseded} {
		run.Status = status
		out := t.TempDir()
		res, err := New(nil, out, nil).Send(context.Background(), msg)
		if err != nil {
			t.Fatal(err)
		}
		if strings.ContainsAny(res.Path[len(out):], "\r\n<>\"") {
			t.Errorf("outbox file name %q carries SIS text", res.Path)
		}
		raw, err := os.ReadFile(res.Path)
		if err != nil {
			t.Fatal(err)
		}
		p := parseMail(t, raw)

		// Headers: exactly the ones we write, the subject on one line.
		for k := range p.Header {
			switch k {
			case "Mime-Version", "Date", "From", "To", "Subject", "Message-Id", "Auto-Submitted",
				"X-Imsfeed-Tenant", "X-Imsfeed-Run", "X-Imsfeed-Status", "Content-Type":
			default:
				t.Errorf("%s mail has an unexpected header %s: %q", status, k, p.Header[k])
			}
		}
		if strings.ContainsAny(p.Subject, "\r\n\u202e") || !strings.HasPrefix(p.Subject, "[imsfeed] north Bcc: victim@evil.example imsfeed approve 99") {
			t.Errorf("%s subject not flattened: %q", status, p.Subject)
		}
		if got := p.Header.Get("To"); got != "<it@north.example.org>" {
			t.Errorf("To header %q", got)
		}

		// Text: no SIS string makes a line that reads as one of ours. Wrapping may start a
		// continuation line with SIS text, but never where the mail writes a header-like
		// field (column 0) or a command (two spaces in).
		for _, line := range strings.Split(p.Text, "\r\n") {
			if strings.HasPrefix(line, "Bcc:") || strings.HasPrefix(line, "  imsfeed approve 99") || strings.ContainsRune(line, '\u202e') {
				t.Errorf("%s text has an injected line %q", status, line)
			}
		}

		// HTML: no element or attribute from SIS text; the text itself still shows.
		z := html.NewTokenizer(strings.NewReader(p.HTML))
		var textContent strings.Builder
		for {
			tt := z.Next()
			if tt == html.ErrorToken {
				break
			}
			tok := z.Token()
			switch tt {
			case html.StartTagToken, html.SelfClosingTagToken:
				if tok.Data == "script" {
					t.Errorf("%s HTML contains a <script> element", status)
				}
			case html.TextToken:
				textContent.WriteString(tok.Data)
			}
		}
		if !strings.Contains(textContent.String(), `O'Brien "Bobby" <script>alert("x")</script>`) {
			t.Errorf("%s HTML does not show the SIS text as text", status)
		}
	}
}

func TestOneLine(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                          "",
		"  Anne\r\n  Smith\t":       "Anne Smith",
		"a\u2028b\u0085c\x00d":      "a b c d",
		"\u202eevil\u2066x\u2069":   "evil x",
		"Ærlig Øst – \"quoted\" <>": "Ærlig Øst – \"quoted\" <>",
	} {
		if got := oneLine(in); got != want {
			t.Errorf("oneLine(%q) = %q, want %q", in, got, want)
		}
	}
}
