package mailer

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/safety"
)

// FuzzRender: whatever text a school's file or a run carries, rendering a status mail of any
// status neither fails nor panics, the subject stays one line, the HTML gains no element from
// the text, and the CSV stays parseable. The seeds run in `make test`; `make fuzz` explores.
func FuzzRender(f *testing.F) {
	f.Add(uint8(0), "northside", "Northside", "export.xml", "P0001", "Ola Nordmann", "bad '&' at 3:9", "held for review", 3, 2)
	f.Add(uint8(2), "north\r\nBcc: x@evil.example", `<script>alert(1)</script>`, "a\"b<c>.xml", "=cmd|' /C calc'!A0", "O'Brien \u202e", "x\ny\r\nz", "", 0, 0)
	f.Add(uint8(5), "", "", "", "", "", strings.Repeat("é", 300), strings.Repeat("ab ", 200), 1<<30, -5)
	f.Add(uint8(7), "t", "\x00\x1b[31m", "\xff\xfe", "\t,;\"", "\u0085\u2028", "%s%d%!", "<!-- -->", 7, 1)
	statuses := []runs.Status{runs.Completed, runs.Held, runs.Failed, runs.Skipped, runs.Rejected, runs.Superseded, runs.Planned, runs.Running}
	f.Fuzz(func(t *testing.T, st uint8, tenant, name, file, key, pname, errMsg, reason string, n, line int) {
		start := time.Date(2026, 3, 2, 2, 0, 0, 0, time.UTC)
		fin := start.Add(12 * time.Second)
		run := &runs.Run{
			ID: 17, Tenant: tenant, Status: statuses[int(st)%len(statuses)], Mode: "snapshot",
			File:      runs.File{Name: file, Size: int64(n)},
			StartedAt: start, FinishedAt: &fin,
			Verdict:   safety.Verdict{Passed: st%2 == 0, Tripped: []safety.Trip{{Type: "persons", Op: safety.Deletes, Count: n, Base: line, Percent: 50}}},
			Warnings:  []record.Warning{{Line: line, Column: 1, Key: key, Message: errMsg}},
			Attention: []change.Notice{{Kind: change.NoticeReappearedCourse, Key: key, Line: line, Message: reason}},
			Reason:    reason,
		}
		if run.Status == runs.Failed {
			run.Error = &runs.Error{Line: line, Column: 2, Key: key, Message: errMsg}
		}
		plan := &change.Plan{Tenant: tenant, Mode: "snapshot",
			Persons:     []change.Person{{Op: change.Op(n & 7), Person: record.Person{Key: key, Name: pname}}},
			Groups:      []change.Group{{Op: change.Archive, Group: record.Group{Key: key, Name: name}, Course: true}},
			Memberships: []change.Membership{{Op: change.Delete, Membership: record.Membership{MembershipKey: record.MembershipKey{Group: key, Member: pname, Role: "01"}}}},
		}
		plan.Counts = change.Tally(plan, [4]int{n & 0xffff, line & 0xffff, 5})
		r, err := Render(Message{Run: run, Plan: plan, Tenant: Tenant{ID: tenant, Name: name, Subscribers: []string{"it@example.org"}},
			ApproveCommand: "imsfeed approve 17 --by NAME", RejectCommand: "imsfeed reject 17 --by NAME"})
		if err != nil {
			t.Fatalf("render: %v", err)
		}
		if strings.ContainsAny(r.Subject, "\r\n") {
			t.Errorf("subject is not one line: %q", r.Subject)
		}
		// The same mail with harmless text has a set of elements the hostile text must not add to.
		z := html.NewTokenizer(strings.NewReader(r.HTML))
		for {
			tt := z.Next()
			if tt == html.ErrorToken {
				break
			}
			if tt == html.StartTagToken || tt == html.SelfClosingTagToken {
				if n, _ := z.TagName(); string(n) == "script" || string(n) == "iframe" || string(n) == "img" && strings.Contains(name+file+key+pname+errMsg+reason+tenant, "<img") {
					t.Errorf("the HTML gained a <%s> element from the text", n)
				}
			}
		}
		if r.CSV != nil {
			if _, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(r.CSV, []byte("\uFEFF")))).ReadAll(); err != nil {
				t.Errorf("the CSV does not parse: %v", err)
			}
		}
	})
}
