package mailer

import (
	"html/template"
	"strings"
)

// The HTML part. html/template escapes every value, so SIS text cannot add markup; styles are
// inline because mail clients drop <style> blocks.
var htmlTmpl = template.Must(template.New("mail").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.Subject}}</title></head>
<body style="font-family:sans-serif;font-size:14px;color:#222">
<p style="font-size:16px;font-weight:bold;color:{{.Color}}">{{.Headline}}</p>
<table style="border-collapse:collapse">
{{- range .Fields}}
<tr><th style="text-align:left;padding:2px 12px 2px 0">{{.K}}</th><td style="padding:2px 0{{if .Mono}};font-family:monospace{{end}}">{{.V}}</td></tr>
{{- end}}
</table>
{{- if .Decision}}
<p>{{.Decision}}</p>
{{- end}}
{{- if and .ConsoleURL (ne .Kind "held")}}
<p>This run in the console: <a href="{{.ConsoleURL}}">{{.ConsoleURL}}</a></p>
{{- end}}
{{- range .Notes}}
<p>{{.}}</p>
{{- end}}
{{- if .Error}}
<p><strong>Reason:</strong><br><code>{{.Error}}</code></p>
{{- end}}
{{- if .Trips}}
<p><strong>Limits crossed:</strong></p>
<ul>
{{- range .Trips}}
<li>{{.}}</li>
{{- end}}
</ul>
{{- end}}
{{- if eq .Kind "held"}}
<p style="margin:12px 0 4px">To apply exactly this change set:</p>
<pre style="{{$.CommandStyle}}">{{.Approve}}</pre>
<p style="margin:12px 0 4px">To reject it:</p>
<pre style="{{$.CommandStyle}}">{{.Reject}}</pre>
{{- if .ConsoleURL}}
<p style="margin:12px 0 4px">To see every change, search them and decide in the console: <a href="{{.ConsoleURL}}">{{.ConsoleURL}}</a></p>
{{- end}}
{{- end}}
{{- if .ShowTable}}
<p><strong>{{.TableTitle}}:</strong></p>
<table style="border-collapse:collapse;text-align:right">
<tr><th></th>{{range .Cols}}<th style="padding:2px 8px;border-bottom:1px solid #999">{{.}}</th>{{end}}</tr>
{{- range .Rows}}
<tr><th style="text-align:left;padding:2px 8px">{{.Type}}</th>{{range .N}}<td style="padding:2px 8px">{{.}}</td>{{end}}</tr>
{{- end}}
</table>
{{- range .TableNotes}}
<p style="margin:4px 0;color:#444">{{.}}</p>
{{- end}}
{{- end}}
{{- if .Removals}}
<p><strong>Where the removals come from</strong> (largest first):</p>
<ul>
{{- range .Removals}}
<li>{{.}}</li>
{{- end}}
{{- if .RemovalsMore}}
<li>… and {{.RemovalsMore}}, none losing more</li>
{{- end}}
</ul>
{{- end}}
{{- range .Warnings}}
<p><strong>{{.Title}}:</strong></p>
<ul>
{{- range .Items}}
<li>{{.}}</li>
{{- end}}
{{- if .More}}
<li>… and {{.More}} more (<code>imsfeed show {{$.RunID}}</code> lists them all)</li>
{{- end}}
</ul>
{{- end}}
{{- if .Attention}}
<p><strong>Attention:</strong></p>
<ul>
{{- range .Attention}}
<li>{{.}}</li>
{{- end}}
{{- if .AttentionMore}}
<li>… and {{.AttentionMore}} more (<code>imsfeed show {{.RunID}}</code> lists them all)</li>
{{- end}}
</ul>
{{- end}}
{{- if .LiveHTML}}{{.LiveHTML}}{{end}}
{{- if .CSVName}}
<p>{{.CSVName}} lists the {{.CSVRows}} changes{{if .CSVCut}} (the first {{.CSVMax}}; <code>imsfeed show {{.RunID}}</code> lists them all){{end}}.</p>
{{- end}}
<p style="color:#777;font-size:12px">imsfeed status mail: one for every import attempt.</p>
</body></html>
`))

type htmlField struct {
	K, V string
	Mono bool
}

type htmlView struct {
	*view
	Fields []htmlField
	Cols   [7]string
	Color  string
	CSVMax int
	// CommandStyle makes the approve and reject commands blocks of their own, below their
	// labels (an inline box with padding covered the label's last line), wrapping rather
	// than running off a phone's screen.
	CommandStyle template.CSS
	LiveHTML     template.HTML
}

func renderHTML(v *view) (string, error) {
	hv := htmlView{view: v, Cols: countCols, CSVMax: maxCSVRows,
		CommandStyle: "background:#f3f3f3;padding:6px 8px;margin:0 0 8px;font-family:monospace;white-space:pre-wrap;overflow-wrap:anywhere"}
	switch v.Kind {
	case kindFailed:
		hv.Color = "#b00020"
	case kindHeld:
		hv.Color = "#b35c00"
	case kindCompleted, kindApproved:
		hv.Color = "#1b5e20"
	default:
		hv.Color = "#222"
	}
	add := func(k, val string, mono bool) {
		if val != "" {
			hv.Fields = append(hv.Fields, htmlField{k, val, mono})
		}
	}
	add("Tenant", v.Tenant, false)
	add("Run", itoa(v.RunID), false)
	add("Status", v.Status, false)
	add("Mode", v.Mode, false)
	add("File", v.FileName, true)
	add("Size", v.Size, false)
	add("SHA-256", v.SHA256, true)
	add("Started", v.Started, false)
	add("Duration", v.Duration, false)
	add("Found dead", v.FoundDead, false)
	add("Waited", v.Waited, false)
	if v.Live != nil {
		h, err := v.Live.html()
		if err != nil {
			return "", err
		}
		hv.LiveHTML = h
	}
	var b strings.Builder
	if err := htmlTmpl.Execute(&b, hv); err != nil {
		return "", err
	}
	return b.String(), nil
}
