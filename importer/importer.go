// Package importer is one run of one tenant: fetch → read → diff → check → apply → report, and
// the operator's decisions on held runs (approve, reject). run.go reads as the whole night.
package importer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/imsfeed/imsfeed/archive"
	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/mailer"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/store"
)

// DefaultMemoryLimit is the soft memory limit the imsfeed binary runs under unless GOMEMLIMIT
// is set. The largest import (a 150k-person, 1.5M-membership initial load) holds about 600 MB
// live; without a limit the garbage collector's headroom doubles that. A soft limit only paces
// the collector: a bigger tenant still imports, with the runtime capping the GC's CPU share.
const DefaultMemoryLimit = 768 << 20

// Mailer sends the status mail of a run. mailer.Mailer satisfies it.
type Mailer interface {
	Send(ctx context.Context, msg mailer.Message) (mailer.Result, error)
}

// Importer runs imports for the tenants of one config against one store.
type Importer struct {
	cfg    *config.Config
	store  store.Store
	mail   Mailer
	log    *slog.Logger
	now    func() time.Time
	config string // the --config path to put into the approve command, "" for the default
	// Progress, when set, is told how many bytes of the file were read (for a progress bar).
	Progress func(read, total int64)
	// Status, when set, is told what a long step is doing ("loading the stored state"); the
	// command line shows it on a terminal.
	Status func(msg string)
	// Applying, when set, is told how many of the plan's changes the apply has written.
	Applying func(done, total int)
	// Applied, when set, is told of each run whose changes were applied (an import that passed,
	// an approval): serve counts them for /metrics.
	Applied func(run *runs.Run)
}

func (im *Importer) status(msg string) {
	if im.Status != nil {
		im.Status(msg)
	}
}

// Params are New's arguments. Now and Logger are optional.
type Params struct {
	Config *config.Config
	Store  store.Store
	Mailer Mailer
	Logger *slog.Logger
	Now    func() time.Time
	// ConfigFile is the config file's absolute path ("" for the embedded default), repeated
	// in a mail's approve, reject and undo commands: they are typed from wherever the reader
	// is, and one without it would open another store.
	ConfigFile string
}

// New returns an importer.
func New(p Params) *Importer {
	im := &Importer{cfg: p.Config, store: p.Store, mail: p.Mailer, log: p.Logger, now: p.Now, config: p.ConfigFile}
	if im.log == nil {
		im.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if im.now == nil {
		im.now = time.Now
	}
	return im
}

// Errors the operator commands return (the CLI maps them to exit 1 with the message).
var (
	ErrNotHeld = errors.New("run is not held")
)

// fileInfo describes a local file for the run record. Its SHA-256 is computed while the file
// is read for the import, not in a pass of its own.
func fileInfo(path string) (runs.File, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return runs.File{}, err
	}
	if !fi.Mode().IsRegular() {
		return runs.File{}, fmt.Errorf("%s is not a regular file", path)
	}
	return runs.File{Name: baseName(path), Size: fi.Size()}, nil
}

func baseName(path string) string { return filepath.Base(path) }

// applied tells Applied of a run whose apply committed.
func (im *Importer) applied(run *runs.Run) {
	if im.Applied != nil {
		im.Applied(run)
	}
}

// finish stamps the end time and the durations.
func (im *Importer) finish(run *runs.Run) {
	t := im.now().UTC()
	run.FinishedAt = &t
	run.SetDurations()
}

// report mails the run and records the mail's fate on the run record. A mail failure never
// changes the run's result: the mailer queues the mail and the next invocation sends it.
func (im *Importer) report(ctx context.Context, t *config.Tenant, run *runs.Run, plan *change.Plan) {
	im.reportRemovals(ctx, t, run, plan, nil)
}

// reportRemovals is report with the breakdown of where the plan's removals come from, which
// only an import (holding the state) can give.
func (im *Importer) reportRemovals(ctx context.Context, t *config.Tenant, run *runs.Run, plan *change.Plan, removals []archive.GroupRemovals) {
	if im.mail == nil {
		return
	}
	msg := mailer.Message{Run: run, Plan: plan, Removals: removals, Tenant: mailTenant(t)}
	if !run.Unrecorded {
		msg.Live = im.liveActivity(ctx, t)
	}
	if run.Status == runs.Held {
		msg.ApproveCommand = im.command("approve", run.ID)
		msg.RejectCommand = im.command("reject", run.ID)
	}
	if run.Status == runs.Held || run.Approval != nil || run.Rejection != nil || run.Mode == runs.ModeUndo {
		// A decision's mail links the run's page too: what was decided, and an undo form.
		msg.ConsoleURL = im.consoleURL(run.ID)
	}
	res, err := im.mail.Send(ctx, msg)
	run.Mail, run.MailError = res.Status, ""
	if res.Err != nil { // why it is queued (or which recipients were refused)
		run.MailError = res.Err.Error()
	}
	if err != nil {
		run.MailError = err.Error()
		im.log.Warn("status mail could be neither sent nor queued", "tenant", t.ID, "run", run.ID, "err", err)
	} else if err := im.liveReported(ctx, t, msg.Live, im.now()); err != nil {
		im.log.Error("record the live activity as reported", "tenant", t.ID, "run", run.ID, "err", err)
	}
	if run.Unrecorded {
		return
	}
	if err := im.store.SaveRun(context.WithoutCancel(ctx), run); err != nil {
		im.log.Error("record mail status", "tenant", t.ID, "run", run.ID, "err", err)
	}
}

// consoleURL is the held run's page in the operator console of `imsfeed serve`, when
// http.public_url says where that is.
func (im *Importer) consoleURL(id int64) string {
	if im.cfg.HTTP == nil || im.cfg.HTTP.PublicURL == "" {
		return ""
	}
	u, err := url.Parse(im.cfg.HTTP.PublicURL)
	if err != nil {
		return ""
	}
	return u.JoinPath("runs", strconv.FormatInt(id, 10)).String()
}

func (im *Importer) command(verb string, id int64) string {
	cfg := ""
	if im.config != "" {
		cfg = "--config " + shellQuote(im.config) + " "
	}
	return fmt.Sprintf("imsfeed %s%s %d --by \"$USER\" --reason \"...\"", cfg, verb, id)
}

func shellQuote(s string) string {
	for _, c := range s {
		if !(c == '/' || c == '.' || c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
		}
	}
	return s
}
