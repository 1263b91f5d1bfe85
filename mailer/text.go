package mailer

import (
	"fmt"
	"strings"
)

// renderText writes the plain-text part. Every SIS string in v is already one line.
func renderText(v *view) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("%s\n\n", v.Headline)
	field := func(k, val string) {
		if val != "" {
			p("%-10s %s\n", k, val)
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
	if v.Decision != "" {
		p("\n%s\n", v.Decision)
	}
	for _, n := range v.Notes {
		p("\n%s\n", n)
	}
	if v.Error != "" {
		p("\nReason:\n  %s\n", v.Error)
	}
	if len(v.Trips) > 0 {
		p("\nLimits crossed:\n")
		for _, t := range v.Trips {
			p("  - %s\n", t)
		}
	}
	if v.Kind == kindHeld {
		p("\nTo apply exactly this change set:\n  %s\n", v.Approve)
		p("To reject it:\n  %s\n", v.Reject)
	}
	if v.ShowTable {
		p("\n%s:\n", v.TableTitle)
		p("  %-12s", "")
		for _, c := range countCols {
			p(" %9s", c)
		}
		p("\n")
		for _, r := range v.Rows {
			p("  %-12s", r.Type)
			for _, n := range r.N {
				p(" %9d", n)
			}
			p("\n")
		}
	}
	if len(v.Warnings) > 0 {
		p("\nWarnings (%d):\n", len(v.Warnings)+v.WarningsMore)
		for _, w := range v.Warnings {
			p("  - %s\n", w)
		}
		if v.WarningsMore > 0 {
			p("  ... and %d more (imsfeed show %d lists them all)\n", v.WarningsMore, v.RunID)
		}
	}
	if len(v.Attention) > 0 {
		p("\nAttention:\n")
		for _, a := range v.Attention {
			p("  - %s\n", a)
		}
		if v.AttentionMore > 0 {
			p("  ... and %d more (imsfeed show %d lists them all)\n", v.AttentionMore, v.RunID)
		}
	}
	if v.CSVName != "" {
		p("\n%s lists the %d changes", v.CSVName, v.CSVRows)
		if v.CSVCut {
			p(" (the first %d; imsfeed show %d lists them all)", maxCSVRows, v.RunID)
		}
		p(".\n")
	}
	p("\n-- \nimsfeed status mail: one for every import attempt.\n")
	return b.String()
}
