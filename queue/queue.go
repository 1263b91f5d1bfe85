// Package queue is the schedule of `imsfeed serve`: the serve processes on one store are workers
// of one river job queue (github.com/riverqueue/river) in the same database (PostgreSQL) or in a
// SQLite file beside the state file (the embedded default). The elected leader turns each
// tenant's cron slot into exactly one job, unique by tenant and slot; any process works it.
// A job whose process died is rescued by another after rescue_after. The tenant lock in the
// importer stays the last guard: whether a file is news is decided under it.
package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	_ "github.com/lib/pq"  // the PostgreSQL driver river talks through
	_ "modernc.org/sqlite" // the embedded SQLite driver

	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/importer"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/store"
	"github.com/imsfeed/imsfeed/store/storeurl"
)

// Kind is the river job kind of a tenant's slot.
const Kind = "imsfeed_slot"

// SlotArgs is one tenant's scheduled slot: the job's arguments and its identity.
type SlotArgs struct {
	Tenant string    `json:"tenant"`
	Slot   time.Time `json:"slot"`
	// Digest: the tenant is fed only live; its slot mails the live digest, fetching nothing.
	Digest bool `json:"digest,omitempty"`
}

// Kind implements river.JobArgs.
func (SlotArgs) Kind() string { return Kind }

// InsertOpts makes a slot one job however many processes (or leaders, one after another)
// insert it: unique by its arguments, tenant and slot.
func (SlotArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// catchUp is how late a new leader still inserts a slot it finds just past (a leader died at
// the slot's minute). Older slots are not run late: the next one comes.
const catchUp = 5 * time.Minute

// Params are Open's arguments.
type Params struct {
	Config   *config.Config
	Importer *importer.Importer
	// Store gives the size of a tenant's last file, for its share of the workers.
	Store  store.Store
	Logger *slog.Logger
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
	// AfterRun, when set, is called after each slot's run this process made (serve logs the
	// tenant's next slot).
	AfterRun func(t *config.Tenant)
}

// Queue is one process's client of the shared queue.
type Queue struct {
	cfg    *config.Config
	im     *importer.Importer
	store  store.Store
	share  *share
	log    *slog.Logger
	now    func() time.Time
	after  func(t *config.Tenant)
	db     *sql.DB
	client *river.Client[*sql.Tx]
	ID     string // this process in the queue: host, pid
}

// Open connects to the queue's database, migrates river's tables, and builds the client for
// the config's tenants. Start starts working.
func Open(ctx context.Context, p Params) (*Queue, error) {
	q := &Queue{cfg: p.Config, im: p.Importer, store: p.Store, share: newShare(p.Config.Queue.Workers), log: p.Logger, now: p.Now, after: p.AfterRun}
	if q.log == nil {
		q.log = slog.New(slog.DiscardHandler)
	}
	if q.now == nil {
		q.now = time.Now
	}
	host, _ := os.Hostname()
	q.ID = fmt.Sprintf("%s/pid-%d/%s", host, os.Getpid(), time.Now().UTC().Format("150405.000"))

	db, driver, err := openDB(ctx, p.Config.Store)
	if err != nil {
		return nil, err
	}
	q.db = db
	workers := river.NewWorkers()
	river.AddWorker(workers, &slotWorker{q: q})
	var periodic []*river.PeriodicJob
	for i := range p.Config.Tenants {
		t := &p.Config.Tenants[i]
		if t.Schedule == "" || (t.Source.URL == "" && !t.LiveOnly()) {
			continue // nothing to fetch or mail: a tenant fed by `imsfeed import`
		}
		periodic = append(periodic, river.NewPeriodicJob(tenantSchedule{t}, q.slotJob(t),
			&river.PeriodicJobOpts{ID: "slot-" + t.ID, RunOnStart: true}))
	}
	rc := &river.Config{
		ID:                   q.ID,
		Logger:               slog.New(riverLog{q.log.Handler()}).With("part", "queue"),
		Queues:               map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: p.Config.Queue.Workers}},
		Workers:              workers,
		PeriodicJobs:         periodic,
		RescueStuckJobsAfter: p.Config.Queue.RescueAfter,
		// River rescues only jobs past their timeout, and cancels a job at its timeout: an
		// attempt gets just under rescue_after, which must exceed the longest import.
		JobTimeout:        jobTimeout(p.Config.Queue.RescueAfter),
		FetchPollInterval: time.Second,
		// Attempts end by recording a run; only a rescued job (its process died) or a run that
		// could not be recorded comes again, so the cap is only a backstop.
		MaxAttempts: 1000, // retry_until ends the retries
		RetryPolicy: &retryPolicy{},
	}
	client, err := river.NewClient[*sql.Tx](driver, rc)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("queue: %w", err)
	}
	q.client = client
	return q, nil
}

// memoryLimit is the process's soft memory limit (GOMEMLIMIT or imsfeed's default), 0 if none.
func memoryLimit() int64 {
	if l := debug.SetMemoryLimit(-1); l < math.MaxInt64 {
		return l
	}
	return 0
}

func jobTimeout(rescueAfter time.Duration) time.Duration {
	if rescueAfter > 2*time.Second {
		return rescueAfter - time.Second
	}
	return rescueAfter / 2
}

// openDB opens river's database: the PostgreSQL store's own database, or for SQLite a file
// beside the state file (river's polling then never waits on an import's write transaction).
func openDB(ctx context.Context, storeURL string) (*sql.DB, riverdriver.Driver[*sql.Tx], error) {
	scheme, rest, _ := strings.Cut(storeURL, ":")
	var db *sql.DB
	var driver riverdriver.Driver[*sql.Tx]
	var err error
	switch strings.ToLower(scheme) {
	case "postgres", "postgresql":
		if db, err = sql.Open("postgres", storeURL); err != nil {
			return nil, nil, fmt.Errorf("queue: open PostgreSQL: %w", err)
		}
		db.SetMaxOpenConns(8)
		driver = riverdatabasesql.New(db)
	case "sqlite", "sqlite3":
		path, err := storeurl.SQLitePath(rest)
		if err != nil {
			return nil, nil, err
		}
		qpath := QueueFile(path)
		dsn := qpath + "?_pragma=busy_timeout(30000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"
		if db, err = sql.Open("sqlite", dsn); err != nil {
			return nil, nil, fmt.Errorf("queue: open %s: %w", qpath, err)
		}
		db.SetMaxOpenConns(1) // river's advice for SQLite: one connection, no SQLITE_BUSY within a process
		driver = riversqlite.New(db)
		if f, err := os.OpenFile(qpath, os.O_CREATE|os.O_RDWR, 0o600); err == nil {
			f.Close()
		}
	default:
		return nil, nil, fmt.Errorf("queue: store URL scheme %q has no queue", scheme)
	}
	if err := migrate(ctx, db, driver, strings.HasPrefix(strings.ToLower(scheme), "postgres")); err != nil {
		db.Close()
		return nil, nil, err
	}
	return db, driver, nil
}

// QueueFile is the SQLite file of the queue beside the state file state.
func QueueFile(state string) string {
	return strings.TrimSuffix(state, filepath.Ext(state)) + "-queue" + filepath.Ext(state)
}

// migrate brings river's tables up to date. Several processes start at once: on PostgreSQL
// an advisory lock lets one migrate at a time; SQLite serializes writers, and a process that
// lost a race tries again and finds the tables there.
func migrate(ctx context.Context, db *sql.DB, driver riverdriver.Driver[*sql.Tx], postgres bool) error {
	m, err := rivermigrate.New(driver, nil)
	if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	if postgres {
		conn, err := db.Conn(ctx)
		if err != nil {
			return fmt.Errorf("queue: %w", err)
		}
		defer conn.Close()
		const key = 0x696d7366 // "imsf"
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, key); err != nil {
			return fmt.Errorf("queue: lock for migration: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, key)
	}
	for try := 0; ; try++ {
		_, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
		if err == nil || try == 5 || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Duration(200*(try+1)) * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("queue: migrate river's tables: %w", err)
	}
	return nil
}

// ImportNow puts a slot of the tenant at this second into the queue, for an operator who needs
// its source imported now (the console's "Import now"): a worker of any process takes it as it
// takes a scheduled slot, with the same retries, lock and mail. It returns the slot.
func (q *Queue) ImportNow(ctx context.Context, tenant string) (time.Time, error) {
	t, err := q.cfg.Tenant(tenant)
	if err != nil {
		return time.Time{}, err
	}
	if t.LiveOnly() {
		return time.Time{}, fmt.Errorf("tenant %s is fed live only: it has no file to import", t.ID)
	}
	slot := q.now().UTC().Truncate(time.Second)
	if _, err := q.client.Insert(ctx, SlotArgs{Tenant: t.ID, Slot: slot}, nil); err != nil {
		return time.Time{}, fmt.Errorf("queue an import of tenant %s: %w", t.ID, err)
	}
	return slot, nil
}

// Start starts working jobs (and, when this process is elected leader, inserting slots).
func (q *Queue) Start(ctx context.Context) error { return q.client.Start(ctx) }

// Stop stops fetching jobs, waits for the running ones and closes the database.
func (q *Queue) Stop(ctx context.Context) error {
	err := q.client.Stop(ctx)
	q.db.Close()
	return err
}

// Close releases the database of a queue that was never started (`imsfeed queue`).
func (q *Queue) Close() error { return q.db.Close() }

// slotJob is the leader's constructor for a tenant's periodic job: the slot is the latest one
// at or before now, at most catchUp ago, so a late tick still names its own slot. River calls
// it up to 100 ms early, hence the second added.
func (q *Queue) slotJob(t *config.Tenant) river.PeriodicJobConstructor {
	return func() (river.JobArgs, *river.InsertOpts) {
		now := q.now().Add(time.Second)
		var slot time.Time
		for at := now.Add(-catchUp - time.Second); ; {
			next, err := SlotAfter(t, at)
			if err != nil || next.After(now) {
				break
			}
			slot, at = next, next
		}
		if slot.IsZero() {
			return nil, nil
		}
		return SlotArgs{Tenant: t.ID, Slot: slot.UTC().Truncate(time.Minute), Digest: t.LiveOnly()}, nil
	}
}

// tenantSchedule is a tenant's schedule, in its timezone, as a river schedule.
type tenantSchedule struct{ t *config.Tenant }

func (s tenantSchedule) Next(now time.Time) time.Time {
	next, err := SlotAfter(s.t, now)
	if err != nil {
		return now.Add(24 * time.Hour * 365) // validated at load; never in practice
	}
	return next
}

// slotWorker runs one tenant's slot.
type slotWorker struct {
	river.WorkerDefaults[SlotArgs]
	q *Queue
}

func (w *slotWorker) Work(ctx context.Context, job *river.Job[SlotArgs]) error {
	q := w.q
	t, err := q.cfg.Tenant(job.Args.Tenant)
	if err != nil {
		return river.JobCancel(fmt.Errorf("tenant %s is not in this process's config: %w", job.Args.Tenant, err))
	}
	log := q.log.With("tenant", t.ID, "slot", job.Args.Slot.Format(time.RFC3339), "job", job.ID, "attempt", job.Attempt)
	if t.LiveOnly() {
		// No nightly file: the slot mails the live digest (once, however often it is tried).
		if _, err := q.im.Digest(ctx, t, job.Args.Slot); err != nil {
			log.Warn("live digest failed; it is tried again", "err", err)
			return err
		}
		if q.after != nil {
			q.after(t)
		}
		return nil
	}
	// A big file takes a larger share of this process's workers (its size last time).
	var size int64
	if q.store != nil {
		if last, err := q.store.LastRun(ctx, t.ID); err == nil {
			size = last.File.Size
		}
	}
	n := units(size, memoryLimit(), q.cfg.Queue.Workers)
	release, err := q.share.acquire(ctx, n)
	if err != nil {
		return err
	}
	defer release()
	log.Info("slot started", "share", n)
	// A passing failure is retried with backoff until retry_until after the slot; the last
	// attempt records the failure, with the earlier attempts, in one mail.
	retry := importer.Retry{Defer: !(retryPolicy{}).NextRetry(job.JobRow).After(job.Args.Slot.Add(t.RetryUntil))}
	for _, e := range job.Errors {
		// Dated and zoned as the rest of the tenant's mail: the last attempt may be hours
		// (retry_until) after the first, and past midnight.
		retry.Earlier = append(retry.Earlier, fmt.Sprintf("attempt %d at %s: %s", e.Attempt, runs.TimeText(e.At, t.Location()), e.Error))
	}
	run, err := q.im.RunSlot(importer.WithRetry(ctx, retry), t, job.Args.Slot)
	var transient *importer.TransientError
	if errors.As(err, &transient) {
		log.Warn("slot failed; it is tried again", "err", err, "next", (retryPolicy{}).NextRetry(job.JobRow).Format(time.RFC3339))
		return err
	}
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		log.Error("slot run not recorded", "err", err)
		return err
	}
	log.Info("slot finished", "run", run.ID, "status", run.Status)
	if q.after != nil {
		q.after(t)
	}
	return nil
}

// retryPolicy is the backoff between attempts: 5s, 20s, 45s, … at most 10 minutes, from the
// last attempt. A rescued job (its process died) comes again after 5s.
type retryPolicy struct{}

func (retryPolicy) NextRetry(job *rivertype.JobRow) time.Time {
	d := time.Duration(job.Attempt*job.Attempt) * 5 * time.Second
	if d > 10*time.Minute {
		d = 10 * time.Minute
	}
	return time.Now().Add(d)
}

// riverLog is serve's log for river: river's INFO line for a periodic job with no slot to
// insert (every tenant at every start: slotJob finds no slot within catchUp) tells an operator
// nothing, and is written at DEBUG.
type riverLog struct{ slog.Handler }

const noSlotLine = "nil returned from periodic job constructor, skipping"

func (h riverLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelInfo && strings.HasSuffix(r.Message, noSlotLine) {
		if !h.Handler.Enabled(ctx, slog.LevelDebug) {
			return nil
		}
		r.Level = slog.LevelDebug
	}
	return h.Handler.Handle(ctx, r)
}

func (h riverLog) WithAttrs(attrs []slog.Attr) slog.Handler {
	return riverLog{h.Handler.WithAttrs(attrs)}
}

func (h riverLog) WithGroup(name string) slog.Handler { return riverLog{h.Handler.WithGroup(name)} }
