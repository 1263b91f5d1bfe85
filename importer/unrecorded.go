package importer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/store"
)

// No mail means no attempt, also when the store fails: an attempt the store cannot record is
// still mailed (from the outbox queue if SMTP is down too), and a run whose failure could not be
// saved is mailed with its real cause and remembered on local disk, so that the next run, which
// closes it, tells the truth about it.

// NoticeInterrupted is the attention notice a run's mail carries for an earlier run of the
// tenant that never finished (a killed process, a lost store).
const NoticeInterrupted = "interrupted-run"

// StoreUnreachable mails an attempt on tenant t that could not even be recorded because the
// store could not be opened, locked or written: a failed run with no number (0) and
// Unrecorded set. Nothing was read or applied. It needs no store; the CLI calls it when opening
// the store fails.
func (im *Importer) StoreUnreachable(ctx context.Context, t *config.Tenant, file runs.File, err error) *runs.Run {
	run := &runs.Run{Tenant: t.ID, Mode: t.Mode, File: file, StartedAt: im.now().UTC(), Attention: []change.Notice{}}
	return im.unrecorded(ctx, t, run, err)
}

// unrecorded fails run without a record: the store refused it. The mail says so.
func (im *Importer) unrecorded(ctx context.Context, t *config.Tenant, run *runs.Run, err error) *runs.Run {
	run.ID, run.Unrecorded, run.Status = 0, true, runs.Failed
	run.Counts = change.Counts{}
	what := "unreachable"
	if errors.Is(err, store.ErrNewerStore) {
		what = "refused this imsfeed" // reachable, and nothing to retry: an upgrade is the fix
	}
	run.Error = &runs.Error{Message: fmt.Sprintf("state store %s: %v; nothing was read or applied, and this attempt has no run number", what, err)}
	im.finish(run)
	im.log.Error("import failed: the store could not record the attempt", "tenant", t.ID, "err", err)
	im.report(context.WithoutCancel(ctx), t, run, nil)
	return run
}

type noticesKey struct{}

// withNotices carries the interrupted-run notices found under the lock to whichever run the
// attempt records (an import, or a skip decided under the lock).
func withNotices(ctx context.Context, n []change.Notice) context.Context {
	if len(n) == 0 {
		return ctx
	}
	return context.WithValue(ctx, noticesKey{}, n)
}

func noticesFrom(ctx context.Context) []change.Notice {
	n, _ := ctx.Value(noticesKey{}).([]change.Notice)
	return n
}

// recordNew records a new run, or, when the store refuses, mails it as unrecorded. ok is false
// in that case and run is the unrecorded run to return.
func (im *Importer) recordNew(ctx context.Context, t *config.Tenant, run *runs.Run, cause error) (ok bool) {
	if err := im.store.CreateRun(ctx, run); err != nil {
		if cause != nil {
			err = fmt.Errorf("%v; and recording it: %w", cause, err)
		}
		im.unrecorded(ctx, t, run, err)
		return false
	}
	return true
}

// unsaved is what the local journal keeps of a run whose final record the store did not take.
type unsaved struct {
	Run   *runs.Run `json:"run"`
	Cause string    `json:"cause"` // why the record could not be saved
}

func (im *Importer) journalPath(tenant string, id int64) string {
	return filepath.Join(im.cfg.DataDir, "unsaved-runs", tenant, "run-"+strconv.FormatInt(id, 10)+".json")
}

// remember keeps run on local disk when the store would not save it: the store keeps saying
// "running" until the next run closes it, and that run should know what really happened.
func (im *Importer) remember(run *runs.Run, cause error) {
	if im.cfg == nil || im.cfg.DataDir == "" || run.ID == 0 {
		return
	}
	p := im.journalPath(run.Tenant, run.ID)
	data, err := json.Marshal(unsaved{Run: run, Cause: cause.Error()})
	if err == nil {
		err = os.MkdirAll(filepath.Dir(p), 0o700)
	}
	if err == nil {
		err = os.WriteFile(p, data, 0o600)
	}
	if err != nil {
		im.log.Warn("remember a run the store did not save", "tenant", run.Tenant, "run", run.ID, "err", err)
	}
}

// recall returns what remember kept of run r, if this machine kept anything.
func (im *Importer) recall(r *runs.Run) (*unsaved, string) {
	if im.cfg == nil || im.cfg.DataDir == "" {
		return nil, ""
	}
	p := im.journalPath(r.Tenant, r.ID)
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, ""
	}
	var u unsaved
	if json.Unmarshal(data, &u) != nil || u.Run == nil || !u.Run.StartedAt.Equal(r.StartedAt) {
		return nil, "" // another store's run with the same number
	}
	return &u, p
}

// closeInterrupted marks runs of the tenant still "running" as failed: we hold the tenant's
// lock, so their process is gone. The cause is what this machine remembers (the store went
// away and the failure could not be saved; that run was mailed then), else a process that ended
// (killed, crashed, power cut), whose attempt is mailed now. Each is also returned as a notice
// for the mail of the run that found it.
func (im *Importer) closeInterrupted(ctx context.Context, t *config.Tenant) []change.Notice {
	stuck, err := im.store.ListRuns(ctx, store.ListRunsParams{Tenant: t.ID, Status: []runs.Status{runs.Running}})
	if err != nil {
		im.log.Warn("look for interrupted runs", "tenant", t.ID, "err", err)
		return nil
	}
	var notices []change.Notice
	for _, r := range stuck {
		// An apply is one transaction: the store holds all of it or none of it, and the
		// record saved with it says which.
		applied := "nothing of it was applied"
		if r.VersionAfter > r.VersionBefore {
			applied = fmt.Sprintf("its changes up to state version %d were applied", r.VersionAfter)
		}
		u, journal := im.recall(r)
		mailed := false
		var when, cause string
		if u != nil {
			r.Error, r.Mail, r.MailError, r.FinishedAt = u.Run.Error, u.Run.Mail, u.Run.MailError, u.Run.FinishedAt
			if r.Error == nil {
				r.Error = &runs.Error{Message: "the store was lost"}
			}
			r.Error.Message += "; the store could not record this then: " + u.Cause
			mailed = u.Run.Mail != ""
			if u.Run.FinishedAt != nil {
				when = " at " + runs.TimeText(*u.Run.FinishedAt, t.Location())
			}
			cause = "the state store was lost: " + u.Cause
		} else {
			r.Error = &runs.Error{Message: "interrupted: the process running it ended (killed, crashed or power cut) before the run finished; " + applied + " (each apply is one transaction)"}
			// It worked until its last sign of life; the time since, it lay dead.
			found := im.now().UTC()
			r.FinishedAt, r.FoundDeadAt = &found, &found
			r.SetDurations()
			if r.AliveAt != nil {
				when = " after its last sign of life at " + runs.TimeText(*r.AliveAt, t.Location())
			}
			cause = "the process running it ended (killed, crashed or power cut)"
		}
		r.Status = runs.Failed
		if err := im.store.SaveRun(ctx, r); err != nil {
			im.log.Warn("close interrupted run", "tenant", t.ID, "run", r.ID, "err", err)
			continue
		}
		if journal != "" {
			_ = os.Remove(journal)
		}
		_ = im.store.MarkAlive(ctx, r.ID, time.Time{})
		im.log.Warn("closed an interrupted run", "tenant", t.ID, "run", r.ID, "cause", cause)
		notices = append(notices, change.Notice{Kind: NoticeInterrupted, Message: fmt.Sprintf(
			"run %d (started %s) was interrupted%s and %s: %s", r.ID, runs.TimeText(r.StartedAt, t.Location()), when, applied, cause)})
		if !mailed {
			im.report(ctx, t, r, nil) // the attempt's own mail, late but not missing
		}
	}
	return notices
}

// aliveEvery is how often a running import gives its sign of life. A run whose process dies is
// closed by the tenant's next run as having worked until its last one.
const aliveEvery = time.Second

// keepAlive marks run id alive now and every aliveEvery until the returned stop is called.
func (im *Importer) keepAlive(ctx context.Context, id int64) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	mark := func() {
		mctx, cancel := context.WithTimeout(ctx, aliveEvery)
		defer cancel()
		if err := im.store.MarkAlive(mctx, id, im.now().UTC()); err != nil && ctx.Err() == nil {
			im.log.Debug("mark the run alive", "run", id, "err", err)
		}
	}
	mark()
	go func() {
		defer close(done)
		tick := time.NewTicker(aliveEvery)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				mark()
			}
		}
	}()
	return func() {
		cancel()
		<-done
		_ = im.store.MarkAlive(context.WithoutCancel(ctx), id, time.Time{})
	}
}
