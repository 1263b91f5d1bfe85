package mailer

import (
	"context"
	"fmt"
	"html/template"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/store"
)

// The live channel's section of a status mail, and the daily digest of a live-only tenant: what
// the SIS did over the live channel (IMS ES 1.0, LIS 2.0) since the previous mail.

// liveView is the section, flattened for both bodies.
type liveView struct {
	Title      string
	Summary    string
	Rows       [][4]string // type, created, updated, deleted
	Notes      []string
	Requests   []string // "createPerson: 30 success"
	Allowances []string
}

// dialectNames name the live channel's dialects as the mail's reader knows them.
var dialectNames = map[string]string{"imses1": "IMS ES 1.0", "lis2": "LIS 2.0"}

func dialectName(d string) string {
	if n, ok := dialectNames[d]; ok {
		return n
	}
	return oneLine(d)
}

// liveTitle names the section by the dialects the requests came in: "Live channel (LIS 2.0)".
func liveTitle(a *store.LiveActivity) string {
	seen := map[string]bool{}
	var names []string
	for _, c := range a.Requests {
		if c.Dialect != "" && !seen[c.Dialect] {
			seen[c.Dialect] = true
			names = append(names, dialectName(c.Dialect))
		}
	}
	if len(names) == 0 {
		return "Live channel"
	}
	sort.Strings(names)
	return "Live channel (" + strings.Join(names, " and ") + ")"
}

func newLiveView(a *store.LiveActivity, loc *time.Location) *liveView {
	if a == nil {
		return nil
	}
	if loc == nil {
		loc = time.UTC
	}
	title := liveTitle(a)
	lv := &liveView{Title: title + ", every request so far"}
	if !a.Since.IsZero() {
		lv.Title = title + " since " + runs.TimeText(a.Since, loc)
	}
	total := a.Total()
	failed, repeats := 0, 0
	dialects := map[string]bool{}
	for _, c := range a.Requests {
		dialects[c.Dialect] = true
		switch {
		case c.Repeat: // answered as its first was, nothing applied: neither a success nor a failure of its own
			repeats += c.N
		case c.Major != "success":
			failed += c.N
		}
	}
	lv.Summary = fmt.Sprintf("%d %s", total, plural(total, "request", "requests"))
	if total == 0 {
		lv.Summary = "No live requests."
	} else {
		lv.Summary += fmt.Sprintf(", %d failed", failed)
		if repeats > 0 {
			lv.Summary += fmt.Sprintf(", %d %s (nothing applied again)", repeats, plural(repeats, "repeat", "repeats"))
		}
		if n := a.Refused(); n > 0 {
			lv.Summary += fmt.Sprintf(", %d REFUSED by the live delete limits", n)
		}
		lv.Summary += "."
	}
	if a.Created != [3]int{} || a.Updated != [3]int{} || a.Deleted != [3]int{} {
		for _, t := range record.Types {
			lv.Rows = append(lv.Rows, [4]string{t.String(), strconv.Itoa(a.Created[t]), strconv.Itoa(a.Updated[t]), strconv.Itoa(a.Deleted[t])})
		}
	}
	if a.Restored > 0 {
		lv.Notes = append(lv.Notes, fmt.Sprintf("persons created: %d restored from the trash can", a.Restored))
	}
	if a.Deleted[record.Persons] > 0 {
		lv.Notes = append(lv.Notes, fmt.Sprintf("persons deleted: %d trashed (restorable)", a.Deleted[record.Persons]))
	}
	for i, c := range a.Requests {
		if i == maxListed {
			lv.Requests = append(lv.Requests, fmt.Sprintf("... and %d more (imsfeed es log lists every request)", len(a.Requests)-i))
			break
		}
		outcome := oneLine(c.Major)
		if c.Minor != "" && c.Minor != "fullsuccess" {
			outcome += " (" + oneLine(c.Minor) + ")"
		}
		if c.Repeat {
			outcome = plural(c.N, "repeat", "repeats") + " answered " + outcome + " again, nothing applied"
		}
		op := oneLine(c.Operation)
		if len(dialects) > 1 {
			op += " (" + dialectName(c.Dialect) + ")"
		}
		lv.Requests = append(lv.Requests, fmt.Sprintf("%s: %d %s", op, c.N, outcome))
	}
	for _, al := range a.Allowances {
		lv.Allowances = append(lv.Allowances, fmt.Sprintf("%s: %s allowed %d more removals: %s",
			runs.TimeText(al.At, loc), oneLine(al.By), al.Deletes, oneLine(al.Reason)))
	}
	return lv
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// text writes the section for the plain-text part.
func (lv *liveView) text(b *strings.Builder) {
	b.WriteString("\n" + wrap(lv.Title+":", "", ""))
	b.WriteString(wrap(lv.Summary, "  ", "  "))
	if len(lv.Rows) > 0 {
		w := [4]int{len("memberships"), len("created"), len("updated"), len("deleted")}
		for _, r := range lv.Rows {
			for i := 1; i < 4; i++ {
				w[i] = max(w[i], len(r[i]))
			}
		}
		line := func(r [4]string) {
			s := "  " + r[0] + strings.Repeat(" ", w[0]-len(r[0]))
			for i := 1; i < 4; i++ {
				s += "  " + strings.Repeat(" ", w[i]-len(r[i])) + r[i]
			}
			b.WriteString(s + "\n")
		}
		line([4]string{"", "created", "updated", "deleted"})
		for _, r := range lv.Rows {
			line(r)
		}
	}
	for _, n := range lv.Notes {
		b.WriteString(wrap(n, "  ", "    "))
	}
	if len(lv.Requests) > 0 {
		b.WriteString("  Requests by operation and outcome:\n")
		for _, r := range lv.Requests {
			b.WriteString(wrap(r, "  - ", "    "))
		}
	}
	if len(lv.Allowances) > 0 {
		b.WriteString("  Allowances (imsfeed es allow):\n")
		for _, a := range lv.Allowances {
			b.WriteString(wrap(a, "  - ", "    "))
		}
	}
}

var liveTmpl = template.Must(template.New("live").Parse(`
<p><strong>{{.Title}}:</strong> {{.Summary}}</p>
{{- if .Rows}}
<table style="border-collapse:collapse;text-align:right">
<tr><th></th><th style="padding:2px 8px;border-bottom:1px solid #999">created</th><th style="padding:2px 8px;border-bottom:1px solid #999">updated</th><th style="padding:2px 8px;border-bottom:1px solid #999">deleted</th></tr>
{{- range .Rows}}
<tr><th style="text-align:left;padding:2px 8px">{{index . 0}}</th><td style="padding:2px 8px">{{index . 1}}</td><td style="padding:2px 8px">{{index . 2}}</td><td style="padding:2px 8px">{{index . 3}}</td></tr>
{{- end}}
</table>
{{- end}}
{{- range .Notes}}
<p style="margin:4px 0;color:#444">{{.}}</p>
{{- end}}
{{- if .Requests}}
<p style="margin:8px 0 0">Requests by operation and outcome:</p>
<ul>
{{- range .Requests}}
<li>{{.}}</li>
{{- end}}
</ul>
{{- end}}
{{- if .Allowances}}
<p style="margin:8px 0 0">Allowances (<code>imsfeed es allow</code>):</p>
<ul>
{{- range .Allowances}}
<li>{{.}}</li>
{{- end}}
</ul>
{{- end}}`))

// html renders the section for the HTML part.
func (lv *liveView) html() (template.HTML, error) {
	var b strings.Builder
	if err := liveTmpl.Execute(&b, lv); err != nil {
		return "", err
	}
	return template.HTML(b.String()), nil //nolint:gosec // the template escaped every value
}

// KindDigest is the X-Imsfeed-Status of a live-only tenant's daily digest.
const KindDigest = "live-digest"

// RenderDigest renders the daily digest of a tenant fed only by the live channel: its activity
// since the previous digest, up to until. It is pure, as Render is.
func RenderDigest(t Tenant, a *store.LiveActivity, until time.Time) (*Rendered, error) {
	lv := newLiveView(a, t.Location)
	loc := t.Location
	if loc == nil {
		loc = time.UTC
	}
	id := oneLine(t.ID)
	tenant := id
	if n := oneLine(t.Name); n != "" && n != id {
		tenant += " (" + n + ")"
	}
	subject := fmt.Sprintf("live digest (%d %s", a.Total(), plural(a.Total(), "request", "requests"))
	if a.Total() > 0 {
		subject += fmt.Sprintf(", +%d ~%d -%d persons", a.Created[record.Persons], a.Updated[record.Persons], a.Deleted[record.Persons])
	}
	if n := a.Refused(); n > 0 {
		subject += fmt.Sprintf(", %d REFUSED", n)
	}
	subject = "[imsfeed] " + id + ": " + subject + ")"
	headline := "Daily digest of the live channel: this tenant has no nightly file; its SIS feeds it over the live channel (IMS ES 1.0 or LIS 2.0)."
	period := "until " + runs.TimeText(until, loc)
	if !a.Since.IsZero() {
		period = runs.TimeText(a.Since, loc) + " to " + runs.TimeText(until, loc)
	}
	var b strings.Builder
	b.WriteString(wrap(headline, "", ""))
	b.WriteString("\n")
	b.WriteString(wrap(tenant, "Tenant     ", strings.Repeat(" ", 11)))
	b.WriteString(wrap(period, "Period     ", strings.Repeat(" ", 11)))
	lv.text(&b)
	b.WriteString("\n" + wrap("imsfeed es log --tenant "+id+" lists every request.", "", ""))
	b.WriteString("\n-- \nimsfeed live digest: one a day for a tenant fed only live.\n")
	section, err := lv.html()
	if err != nil {
		return nil, fmt.Errorf("render live digest of tenant %s: %w", id, err)
	}
	var h strings.Builder
	err = digestTmpl.Execute(&h, map[string]any{"Subject": subject, "Headline": headline, "Tenant": tenant, "Period": period, "Section": section, "ID": id})
	if err != nil {
		return nil, fmt.Errorf("render live digest of tenant %s: %w", id, err)
	}
	return &Rendered{Subject: subject, Text: b.String(), HTML: h.String(),
		Headers: map[string]string{"X-Imsfeed-Tenant": id, "X-Imsfeed-Run": "0", "X-Imsfeed-Status": KindDigest}}, nil
}

var digestTmpl = template.Must(template.New("digest").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.Subject}}</title></head>
<body style="font-family:sans-serif;font-size:14px;color:#222">
<p style="font-size:16px;font-weight:bold">{{.Headline}}</p>
<table style="border-collapse:collapse">
<tr><th style="text-align:left;padding:2px 12px 2px 0">Tenant</th><td>{{.Tenant}}</td></tr>
<tr><th style="text-align:left;padding:2px 12px 2px 0">Period</th><td>{{.Period}}</td></tr>
</table>
{{.Section}}
<p><code>imsfeed es log --tenant {{.ID}}</code> lists every request.</p>
<p style="color:#777;font-size:12px">imsfeed live digest: one a day for a tenant fed only live.</p>
</body></html>
`))

// SendDigest renders and delivers a live-only tenant's daily digest as Send delivers a status
// mail (SMTP, else the outbox; queued when SMTP fails).
func (m *Mailer) SendDigest(ctx context.Context, t Tenant, a *store.LiveActivity, until time.Time) (Result, error) {
	r, err := RenderDigest(t, a, until)
	if err != nil {
		return Result{}, err
	}
	return m.send(ctx, Message{Run: &runs.Run{Tenant: t.ID}, Tenant: t}, r)
}
