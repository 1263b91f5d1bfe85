package mailer

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/imsfeed/imsfeed/archive"
	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/safety"
	"github.com/imsfeed/imsfeed/store"
)

// Tenant is who the mail is about and who receives it.
type Tenant struct {
	ID          string
	Name        string
	Subscribers []string
	// Location is the tenant's time zone (config `timezone`): the mail's times are in it.
	// nil means UTC, so Render stays pure.
	Location *time.Location
}

// Message is one status mail to render and send: one per attempt.
type Message struct {
	Run *runs.Run
	// Plan is the run's change set (for a hold: what would change); nil when there is none.
	Plan   *change.Plan
	Tenant Tenant
	// ApproveCommand and RejectCommand are the exact commands shown for a held run.
	ApproveCommand, RejectCommand string
	// Removals says where the plan's removals come from (archive.Removals, largest first, as
	// the console shows them); nil when there are none or the sender did not have the state.
	Removals []archive.GroupRemovals
	// ConsoleURL is the run's page in the operator console (for a held run, where to decide);
	// empty when
	// http.public_url is not configured.
	ConsoleURL string
	// Live is the live channel's activity since the previous mail, for a tenant with a live
	// channel; nil shows no live section.
	Live *store.LiveActivity
}

// Rendered is a mail's content, before addressing: what Send puts on the wire.
type Rendered struct {
	Subject string
	Text    string
	HTML    string
	// CSV lists the plan's changes; nil when the plan is nil or empty.
	CSV     []byte
	CSVName string
	// Headers are extra X-Imsfeed-* headers (tenant, run, status) for mail filters.
	Headers map[string]string
}

// Limits on what one mail lists; the rest is counted ("and K more") and `imsfeed show` has all.
const (
	maxListed     = 20
	maxRemovals   = 10 // groups in "where the removals come from"; one lost school tops it
	maxCSVRows    = MaxCSVRows
	maxSubjectErr = 120
)

// modeRollover is the mode of a school-year rollover's run (runs.ModeRollover), modeRestore
// of an operator's restore or purge (runs.ModeRestore).
const (
	modeRollover = "rollover"
	modeRestore  = "restore"
)

// MaxCSVRows is how many changes the CSV attachment lists at most.
const MaxCSVRows = 100000

// Render turns a message into the mail's subject, text, HTML and CSV. It is pure: no clock, no
// I/O; equal messages render equal mails.
func Render(m Message) (*Rendered, error) {
	if m.Run == nil {
		return nil, fmt.Errorf("render status mail: no run")
	}
	v := newView(m)
	r := &Rendered{
		Subject: v.Subject,
		Text:    renderText(v),
		Headers: map[string]string{
			"X-Imsfeed-Tenant": v.TenantID,
			"X-Imsfeed-Run":    strconv.FormatInt(m.Run.ID, 10),
			"X-Imsfeed-Status": v.Kind,
		},
	}
	h, err := renderHTML(v)
	if err != nil {
		return nil, fmt.Errorf("render status mail of run %d: %w", m.Run.ID, err)
	}
	r.HTML = h
	if m.Plan != nil && !m.Plan.Empty() {
		r.CSV, err = renderCSV(m.Plan)
		if err != nil {
			return nil, fmt.Errorf("render status mail of run %d: changes csv: %w", m.Run.ID, err)
		}
		r.CSVName = v.CSVName
	}
	return r, nil
}

// Kinds of mail. Completed after approval is its own kind.
const (
	kindCompleted  = "completed"
	kindApproved   = "approved"
	kindHeld       = "held"
	kindFailed     = "failed"
	kindSkipped    = "skipped"
	kindPlanned    = "planned"
	kindRejected   = "rejected"
	kindSuperseded = "superseded"
	kindRunning    = "running"
)

func kindOf(r *runs.Run) string {
	switch r.Status {
	case runs.Completed:
		if r.Approval != nil {
			return kindApproved
		}
		return kindCompleted
	case runs.Held:
		return kindHeld
	case runs.Failed:
		return kindFailed
	case runs.Skipped:
		return kindSkipped
	case runs.Planned:
		return kindPlanned
	case runs.Rejected:
		return kindRejected
	case runs.Superseded:
		return kindSuperseded
	}
	return kindRunning
}

// view is everything both bodies show, already flattened to one line per SIS string.
type view struct {
	Kind, Subject     string
	TenantID, Tenant  string // Tenant is "id (name)"
	Headline          string // one sentence: what happened
	Notes             []string
	RunID             int64
	Status, Mode      string
	FileName          string
	Size, SHA256      string
	Started, Duration string
	FoundDead         string // when a run whose process died was found dead
	Waited            string // a held run's wait for its approval
	Error             string // failure reason with file:line:column and record
	Trips             []string
	Approve, Reject   string
	ConsoleURL        string
	Removals          []string // where the removals come from, largest first
	RemovalsMore      string   // archive.More of the rows not listed
	Decision          string   // approval or rejection: by, when, why
	ShowTable         bool
	TableTitle        string
	Rows              []countRow
	Warnings          []section // skipped records, repairs, ignored parts: never mixed
	TableNotes        []string  // what "deleted" and "archived" mean here
	Attention         []string
	AttentionMore     int
	CSVName           string
	CSVRows           int
	CSVCut            bool
	Live              *liveView
}

// section is a titled list of warnings of one kind, cut at maxListed.
type section struct {
	Title string
	Items []string
	More  int
}

type countRow struct {
	Type string
	N    [7]int // before, inserted, updated, deleted, restored, archived, after
}

var countCols = [7]string{"before", "inserted", "updated", "deleted", "restored", "archived", "after"}

func newView(m Message) *view {
	r := m.Run
	v := &view{Kind: kindOf(r), RunID: r.ID, Status: string(r.Status), Mode: oneLine(r.Mode)}
	v.TenantID = oneLine(m.Tenant.ID)
	if v.TenantID == "" {
		v.TenantID = oneLine(r.Tenant)
	}
	v.Tenant = v.TenantID
	if n := oneLine(m.Tenant.Name); n != "" && n != v.TenantID {
		v.Tenant += " (" + n + ")"
	}
	switch {
	case r.HasFile():
		v.FileName = oneLine(r.File.Name)
	case r.Mode != modeRollover: // a rollover has no file row: its subject names its years
		v.FileName = "(none)"
	}
	if r.File.Size > 0 || r.File.SHA256 != "" {
		v.Size = sizeText(r.File.Size)
	}
	v.SHA256 = oneLine(r.File.SHA256)
	loc := m.Tenant.Location
	if loc == nil {
		loc = time.UTC
	}
	if !r.StartedAt.IsZero() {
		v.Started = runs.TimeText(r.StartedAt, loc)
	}
	if d := r.Duration(); d > 0 {
		v.Duration = durationText(d)
		if r.FoundDeadAt != nil && r.AliveAt != nil { // not the time it lay dead since
			v.Duration += ", up to its last sign of life at " + runs.TimeText(*r.AliveAt, loc)
		}
	}
	if r.FoundDeadAt != nil {
		v.FoundDead = runs.TimeText(*r.FoundDeadAt, loc) + ", by the tenant's next run: its process had ended"
	}
	if d := r.ApprovalWait(); d > 0 { // apart from Duration: the operator's time, not the import's
		v.Waited = durationText(d) + " for approval"
	}
	if r.Error != nil {
		v.Error = errorText(r.File.Name, r.Error)
	}
	for _, t := range r.Verdict.Tripped {
		v.Trips = append(v.Trips, tripDetail(t))
	}
	v.Approve = oneLine(m.ApproveCommand)
	if v.Approve == "" {
		v.Approve = fmt.Sprintf("imsfeed approve %d --by NAME --reason TEXT", r.ID)
	}
	v.Reject = oneLine(m.RejectCommand)
	if v.Reject == "" {
		v.Reject = fmt.Sprintf("imsfeed reject %d --by NAME --reason TEXT", r.ID)
	}
	if !r.Unrecorded {
		v.ConsoleURL = oneLine(m.ConsoleURL)
	}
	for i, g := range m.Removals {
		if i == maxRemovals {
			v.RemovalsMore = archive.More(m.Removals[i:])
			break
		}
		v.Removals = append(v.Removals, oneLine(g.String()))
	}
	reason := oneLine(r.Reason)
	counts := headline(r.Counts)
	partial := r.Verdict.OnTrip == safety.HoldRemovals
	held := "held import" // what an operator decided on
	if r.Mode == modeRollover {
		held = "held school-year rollover " + strings.TrimPrefix(r.File.Name, "rollover ")
	}

	switch v.Kind {
	case kindCompleted:
		if r.Mode == modeRestore {
			// No file: an operator gave back (or purged) what the reason names.
			what, _, _ := strings.Cut(reason, ";")
			v.Subject = truncate(what, maxSubjectErr)
			v.Headline = capitalize(reason) + "."
			break
		}
		if r.Undo != nil {
			// An undo reads no file: it puts back what earlier runs changed.
			v.Subject = reason + " (" + counts + ")"
			v.Headline = capitalize(reason) + ": the state from before it is back. The changes below are the undo's."
			v.Decision = decisionText("Undone", &r.Undo.Decision, loc)
			v.Notes = append(v.Notes, fmt.Sprintf("This undo is itself a run: `imsfeed undo %d --by NAME --reason TEXT` brings the changes back.", r.ID))
			break
		}
		v.Subject = "import completed (" + counts + ")"
		v.Headline = "Import completed: the changes below were applied."
		if !changed(r.Counts) {
			v.Headline = "Import completed: nothing to change."
		}
		if reason != "" { // e.g. an empty delta in event mode
			v.Notes = append(v.Notes, capitalize(reason)+".")
		}
	case kindApproved:
		v.Subject = "held import approved and applied (" + counts + ")"
		if r.Mode == modeRollover {
			v.Subject = "school-year " + r.File.Name + " approved and applied (" + counts + ")"
		}
		v.Headline = "The " + held + " was approved and its change set applied."
		v.Decision = decisionText("Approved", r.Approval, loc)
	case kindHeld:
		v.Subject = "import HELD — approval needed (" + tripsSubject(r.Verdict.Tripped) + ")"
		if r.Mode == modeRollover {
			v.Subject = fmt.Sprintf("school-year %s HELD — approval needed (%d courses to archive)", r.File.Name, r.Counts.Groups.Archived)
			v.Headline = "School-year rollover HELD: every rollover waits for an operator. Nothing was applied."
			v.Notes = append(v.Notes, capitalize(reason)+".")
		} else if partial {
			v.Headline = "Removals HELD: inserts and updates were applied; deletes and archivals wait for approval."
		} else {
			v.Headline = "Import HELD: the change set crosses the safety limits below. Nothing was applied."
		}
	case kindFailed:
		v.Subject = "import FAILED (" + truncate(errorSubject(r.File.Name, r.Error), maxSubjectErr) + ")"
		v.Headline = "Import FAILED: nothing was changed."
		if r.Interrupted() { // the operator's doing, not the file's
			v.Headline = "Import interrupted by the operator (Ctrl-C or a stop signal): nothing was applied. The next run tries again."
		}
		if v.Error == "" {
			v.Error = "no reason recorded"
		}
	case kindSkipped:
		v.Subject = "import skipped"
		if reason != "" {
			v.Subject += " (" + truncate(reason, maxSubjectErr) + ")"
		}
		v.Headline = "Import skipped: nothing was changed."
		if reason != "" {
			v.Headline = "Import skipped (" + reason + "): nothing was changed."
		}
	case kindPlanned:
		if r.Verdict.Passed {
			v.Subject = "dry run — would apply (" + counts + ")"
			v.Headline = "Dry run: nothing was applied. The safety filter would pass this change set."
		} else {
			v.Subject = "dry run — would be HELD (" + tripsSubject(r.Verdict.Tripped) + ")"
			v.Headline = "Dry run: nothing was applied. The safety filter would HOLD this change set."
		}
	case kindRejected:
		v.Subject = fmt.Sprintf("%s rejected (run %d)", held, r.ID)
		v.Headline = "The " + held + " was rejected: nothing from its change set was applied."
		v.Decision = decisionText("Rejected", r.Rejection, loc)
	case kindSuperseded:
		v.Subject = fmt.Sprintf("%s superseded (run %d)", held, r.ID)
		v.Headline = "The " + held + " was superseded by a newer run: nothing from its change set was applied."
		if reason != "" {
			v.Notes = append(v.Notes, "Reason: "+reason)
		}
	default:
		v.Subject = "import " + oneLine(string(r.Status))
		v.Headline = "Import " + oneLine(string(r.Status)) + "."
	}
	v.Subject = oneLine("[imsfeed] " + v.TenantID + ": " + v.Subject)

	v.ShowTable = v.Kind != kindFailed
	switch v.Kind {
	case kindHeld, kindPlanned, kindRejected, kindSuperseded:
		v.TableTitle = "What the change set would do"
	case kindSkipped:
		v.TableTitle = "Current state"
	default:
		v.TableTitle = "What was applied"
	}
	for _, t := range record.AllTypes {
		c := r.Counts.Of(t)
		if t == record.Relations && *c == (change.TypeCounts{}) {
			continue // a tenant whose files carry no relations sees no row of them
		}
		v.Rows = append(v.Rows, countRow{t.String(), [7]int{c.Before, c.Inserted, c.Updated, c.Deleted, c.Restored, c.Archived, c.After}})
	}

	v.TableNotes = tableNotes(r.Counts)
	v.Warnings = warningSections(r.Warnings)
	notices := r.Attention
	if len(notices) == 0 && m.Plan != nil {
		notices = m.Plan.Attention
	}
	for i, n := range notices {
		if i == maxListed {
			v.AttentionMore = len(notices) - i
			break
		}
		v.Attention = append(v.Attention, noticeText(n))
	}
	v.Live = newLiveView(m.Live, loc)
	if m.Plan != nil && !m.Plan.Empty() {
		v.CSVName = csvName(v.TenantID, r.ID)
		v.CSVRows = m.Plan.Changes()
		v.CSVCut = v.CSVRows > maxCSVRows
	}
	return v
}

// changed reports whether the counts hold any change at all.
func changed(c change.Counts) bool {
	for _, t := range record.AllTypes {
		tc := c.Of(t)
		if tc.Inserted+tc.Updated+tc.Deleted+tc.Restored+tc.Archived > 0 {
			return true
		}
	}
	return false
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// headline is the subject's numbers: "+12 ~30 -2 persons", plus groups, memberships and
// relations when they changed. + counts inserts and restores, ~ updates, - deletes and archivals. Memberships
// of an archived course are not gone: they are kept as manual, and the subject says so apart.
func headline(c change.Counts) string {
	var parts []string
	for _, t := range record.AllTypes {
		tc := c.Of(t)
		plus, upd, minus, kept := tc.Inserted+tc.Restored, tc.Updated, tc.Deleted+tc.Archived, 0
		if t == record.Memberships {
			minus, kept = tc.Deleted, tc.Archived
		}
		if t == record.Persons || plus+upd+minus+kept > 0 {
			s := fmt.Sprintf("+%d ~%d -%d %s", plus, upd, minus, t)
			if kept > 0 {
				s += fmt.Sprintf(" (%d kept as manual)", kept)
			}
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ", ")
}

// tableNotes say what the table's "deleted" and "archived" mean for each type: a person is never
// deleted by an import but trashed, and can be restored; a membership of an archived course
// stays, as a manual membership.
func tableNotes(c change.Counts) []string {
	var notes []string
	if n := c.Persons.Deleted; n > 0 {
		notes = append(notes, fmt.Sprintf("persons deleted: %d trashed (restorable)", n))
	}
	if n := c.Groups.Archived; n > 0 {
		notes = append(notes, fmt.Sprintf("groups archived: %d archived as courses (restorable)", n))
	}
	if n := c.Memberships.Archived; n > 0 {
		notes = append(notes, fmt.Sprintf("memberships archived: %d kept as manual (their course was archived)", n))
	}
	return notes
}

// warningSections lists warnings by kind: skipped records (whose stored counterparts were kept),
// lenient repairs (nothing left out) and ignored parts of the file.
func warningSections(ws []record.Warning) []section {
	order := []struct{ kind, title string }{
		{record.WarnSkipped, "Records skipped, their stored counterparts kept"},
		{record.WarnRepaired, "Repaired in lenient mode, nothing skipped"},
		{record.WarnIgnored, "Ignored, the records themselves were read"},
	}
	var out []section
	for _, o := range order {
		s := section{}
		n := 0
		for _, w := range ws {
			if w.Class() != o.kind {
				continue
			}
			n++
			if len(s.Items) == maxListed {
				s.More++
				continue
			}
			s.Items = append(s.Items, warningText(w))
		}
		if n > 0 {
			s.Title = fmt.Sprintf("%s (%d)", o.title, n)
			out = append(out, s)
		}
	}
	return out
}

// tripsSubject names the first limit crossed and how many more.
func tripsSubject(ts []safety.Trip) string {
	switch len(ts) {
	case 0:
		return "no limit recorded"
	case 1:
		return tripShort(ts[0])
	}
	more := "limits"
	if len(ts) == 2 {
		more = "limit"
	}
	return fmt.Sprintf("%s and %d more %s", tripShort(ts[0]), len(ts)-1, more)
}

func tripShort(t safety.Trip) string {
	s := tripLimit(t)
	if t.Window != "" {
		s += " over " + oneLine(t.Window)
	}
	return s
}

func tripLimit(t safety.Trip) string {
	what := oneLine(t.Type) + " " + oneLine(string(t.Op))
	switch {
	case t.MaxPercent != nil && t.Percent > *t.MaxPercent:
		return fmt.Sprintf("%s %.1f%% > %s%%", what, t.Percent, num(*t.MaxPercent))
	case t.MaxCount != nil && t.Count > *t.MaxCount:
		return fmt.Sprintf("%s %d > %d", what, t.Count, *t.MaxCount)
	case t.Base == 0:
		return fmt.Sprintf("%s %d, initial load", what, t.Count)
	}
	return fmt.Sprintf("%s %d", what, t.Count)
}

// tripDetail is one limit crossed with all its numbers, for the body.
func tripDetail(t safety.Trip) string {
	s := fmt.Sprintf("%s %s: %d of %d", oneLine(t.Type), oneLine(string(t.Op)), t.Count, t.Base)
	if t.Window != "" {
		// The rolling window: removals applied within it plus this run's, against its base.
		s = fmt.Sprintf("%s %s over the last %s: %d of %d", oneLine(t.Type), oneLine(string(t.Op)), oneLine(t.Window), t.Count, t.Base)
	}
	if t.Base > 0 {
		s += fmt.Sprintf(" (%.1f%%)", t.Percent)
	} else {
		s += " (initial load)"
	}
	var lim []string
	if t.MaxPercent != nil {
		lim = append(lim, "max "+num(*t.MaxPercent)+"%")
	}
	if t.MaxCount != nil {
		lim = append(lim, "max "+strconv.Itoa(*t.MaxCount))
	}
	if len(lim) > 0 {
		s += "; limit " + strings.Join(lim, ", ")
	}
	return s
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func errorSubject(file string, e *runs.Error) string {
	if e == nil {
		return "no reason recorded"
	}
	msg := errorMessage(file, e)
	if e.Line > 0 {
		return fmt.Sprintf("line %d:%d: %s", e.Line, e.Column, msg)
	}
	return msg
}

// errorMessage is the error's message without the position and record the reader already put
// in front of it: the mail writes those once, itself.
func errorMessage(file string, e *runs.Error) string { return oneLine(e.Problem(file)) }

// errorText is the failure reason as an editor jump target: file:line:column, record, message.
func errorText(file string, e *runs.Error) string {
	f := *e
	f.Key, f.Message = oneLine(e.Key), oneLine(e.Message)
	return f.Text(oneLine(file))
}

func warningText(w record.Warning) string {
	var b strings.Builder
	if w.Line > 0 {
		fmt.Fprintf(&b, "line %d:%d: ", w.Line, w.Column)
	}
	if k := oneLine(w.Key); k != "" {
		fmt.Fprintf(&b, "%s: ", k)
	}
	b.WriteString(oneLine(w.Message))
	return b.String()
}

var noticeLabels = map[string]string{
	change.NoticeReappearedCourse: "archived course is back in the file",
	change.NoticeSkippedRecord:    "skipped record",
	change.NoticeOrphanedGroup:    "orphaned group",
	change.NoticeKeptRecord:       "kept, not deleted",
	change.NoticeStaleSource:      "no new file",
	change.NoticeLiveSinceHold:    "live requests since the hold",
	// The importer's notices without a constant in change.
	"superseded-hold":    "hold replaced",
	"counts-unknown":     "counts unknown",
	"rollover-replanned": "rollover planned again",
	"purged":             "purged",
}

func noticeText(n change.Notice) string {
	label := noticeLabels[n.Kind]
	if label == "" { // a kind without a label still reads as words, not as a code
		label = strings.ReplaceAll(oneLine(n.Kind), "-", " ")
	}
	msg := oneLine(n.Message)
	if msg == "" {
		msg = oneLine(n.Key)
	}
	s := label + ": " + msg
	if n.Line > 0 {
		s += fmt.Sprintf(" (line %d)", n.Line)
	}
	return s
}

func decisionText(verb string, d *runs.Decision, loc *time.Location) string {
	if d == nil {
		return ""
	}
	s := verb + " by " + oneLine(d.By)
	if !d.At.IsZero() {
		s += " at " + runs.TimeText(d.At, loc)
	}
	if r := oneLine(d.Reason); r != "" {
		s += ": " + r
	}
	return s
}

// sizeText is the size in the units the command line uses, with the exact number of bytes.
func sizeText(n int64) string { return runs.SizeWithBytes(n) }

func durationText(d time.Duration) string {
	if d >= time.Second {
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Millisecond).String()
}

// oneLine flattens SIS-provided text so it can neither add lines to a header or the text body
// nor reorder it: control characters and bidi overrides become spaces, runs of space collapse.
func oneLine(s string) string {
	if s == "" {
		return ""
	}
	var b strings.Builder
	space := false
	for _, r := range s {
		if unicode.IsControl(r) || unicode.IsSpace(r) || unicode.Is(unicode.Bidi_Control, r) || r == '\u2028' || r == '\u2029' {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	return b.String()
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// fileSafe keeps a tenant id usable in file names and Message-IDs.
func fileSafe(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "tenant"
	}
	return strings.TrimLeft(string(b), ".")
}

func csvName(tenant string, run int64) string {
	return fmt.Sprintf("changes-%s-run%d.csv", fileSafe(tenant), run)
}

// csvBOM starts the CSV: without it Excel reads UTF-8 as the local code page ("Ã˜stby").
const csvBOM = "\ufeff"

// csvHeader: columns are only ever added at the end (spreadsheets and scripts read by position).
var csvHeader = []string{"type", "op", "key", "name", "group", "group_name", "member", "member_name", "role", "role_name", "changes",
	"preferred_first", "preferred_last"}

// csvOp is a change's op as the CSV writes it: persons are never deleted by an import but
// trashed, and memberships of an archived course stay, as manual ones.
func csvOp(typ string, op change.Op) string {
	switch {
	case typ == "person" && op == change.Delete:
		return "trashed (restorable)"
	case op == change.Manualize:
		return "kept as manual"
	}
	return op.String()
}

// renderCSV lists the plan's changes, one a row: type, op, key and name; a membership's group,
// member and role with their names; for an update the fields that change, old → new. A
// relation is its person (key, name), the related person (member, member_name) and its type
// (role). A person's row ends with the preferred first and last name the change gives it (a
// trashed person's row holds only key and name).
func renderCSV(p *change.Plan) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(csvBOM)
	w := csv.NewWriter(&buf)
	w.UseCRLF = true // RFC 4180, and what spreadsheet programs expect
	rows := 0
	write := func(rec ...string) bool {
		if rows == maxCSVRows {
			return false
		}
		rows++
		for i := range rec {
			rec[i] = cell(rec[i])
		}
		return w.Write(rec) == nil
	}
	if err := w.Write(csvHeader); err != nil {
		return nil, err
	}
	personNames := map[string]string{}
	groupNames := map[string]string{}
	for _, c := range p.Persons {
		personNames[c.Person.Key] = c.Person.Name
		changes := ""
		if c.Op == change.Update {
			changes = personChanges(p, &c)
		}
		write("person", csvOp("person", c.Op), c.Person.Key, c.Person.Name, "", "", "", "", "", "", changes,
			c.Person.Attrs.Get(record.PreferredFirst), c.Person.Attrs.Get(record.PreferredLast))
	}
	for _, c := range p.Groups {
		groupNames[c.Group.Key] = c.Group.Name
		changes := ""
		switch {
		case c.Op == change.Update:
			changes = groupChanges(p, &c)
		case c.Op == change.Insert && c.Group.Template != "":
			changes = "template: " + c.Group.Template
		case c.Op == change.Archive && len(c.Group.Parents) > 0:
			changes = "moved under: " + strings.Join(c.Group.Parents, ", ")
		}
		write("group", csvOp("group", c.Op), c.Group.Key, c.Group.Name, "", "", "", "", "", "", changes, "", "")
	}
	var storedPerson, storedGroup func(string) string
	if p.Names != nil {
		storedPerson, storedGroup = p.Names.PersonName, p.Names.GroupName
	}
	name := func(inPlan map[string]string, stored func(string) string, key string) string {
		if n := inPlan[key]; n != "" || stored == nil {
			return n
		}
		return stored(key)
	}
	for _, c := range p.Memberships {
		k := c.Membership.MembershipKey
		var member string
		if c.Membership.MemberType != record.MemberGroup {
			member = name(personNames, storedPerson, k.Member)
		}
		if member == "" { // a group member, or a removal that does not say which kind
			member = name(groupNames, storedGroup, k.Member)
		}
		write("membership", csvOp("membership", c.Op), "", "", k.Group, name(groupNames, storedGroup, k.Group),
			k.Member, member, k.Role, record.RoleName(k.Role), "", "", "")
	}
	for _, c := range p.Relations {
		k := c.Relation.RelationKey
		why := ""
		if c.Cascade {
			why = "a person of it went to the trash can"
		}
		write("relation", csvOp("relation", c.Op), k.Person, name(personNames, storedPerson, k.Person), "", "",
			k.Related, name(personNames, storedPerson, k.Related), k.Type, "", why, "", "")
	}
	w.Flush()
	return buf.Bytes(), w.Error()
}

// personChanges says which stored fields an update changes: "name: A → B; email: x → y".
func personChanges(p *change.Plan, c *change.Person) string { return fieldsText(c.Fields(p.Names)) }

func groupChanges(p *change.Plan, c *change.Group) string { return fieldsText(c.Fields(p.Names)) }

func fieldsText(fs []change.Field) string {
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = f.Name + ": " + shown(f.Old) + " → " + shown(f.New)
	}
	return strings.Join(parts, "; ")
}

func shown(s string) string {
	if s == "" {
		return "(none)"
	}
	return oneLine(s)
}

// cell defuses spreadsheet formulas in SIS text (a name starting with "=" must not run when
// school staff open the file), as OWASP recommends: such a cell gets a leading apostrophe.
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
