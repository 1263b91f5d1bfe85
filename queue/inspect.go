package queue

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/imsfeed/imsfeed/config"
)

// Report is what `imsfeed queue` shows (its --json shape: fields may be added, never renamed).
type Report struct {
	Next     []NextSlot `json:"next"`
	Running  []Job      `json:"running"`
	Retrying []Job      `json:"retrying"`
	Failed   []Job      `json:"failed"`
}

// NextSlot is a tenant's next scheduled slot.
type NextSlot struct {
	Tenant string    `json:"tenant"`
	Slot   time.Time `json:"slot"`
	// Digest: the slot mails a live-only tenant's live digest.
	Digest bool `json:"digest,omitempty"`
}

// Job is one slot's job in the queue.
type Job struct {
	ID     int64     `json:"job"`
	Tenant string    `json:"tenant"`
	Slot   time.Time `json:"slot"`
	// State is river's state of the job, but "retryable" for every job waiting for its next
	// try (waitsForRetry).
	State   string `json:"state"`
	Attempt int    `json:"attempt"`
	// Process is the serve process of the latest attempt (host/pid-N/start time).
	Process string `json:"process,omitempty"`
	// Since is when the latest attempt started.
	Since *time.Time `json:"since,omitempty"`
	// NextAt is when a retrying job is tried again.
	NextAt    *time.Time `json:"next_at,omitempty"`
	LastError string     `json:"last_error,omitempty"`
}

// Inspect reads the queue of the config's store without working it.
func Inspect(ctx context.Context, cfg *config.Config, now time.Time) (*Report, error) {
	db, driver, err := openDB(ctx, cfg.Store)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	client, err := river.NewClient[*sql.Tx](driver, &river.Config{})
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	r := &Report{Next: []NextSlot{}, Running: []Job{}, Retrying: []Job{}, Failed: []Job{}}
	for i := range cfg.Tenants {
		t := &cfg.Tenants[i]
		if t.Schedule == "" || (t.Source.URL == "" && !t.LiveOnly()) {
			continue
		}
		if next, err := SlotAfter(t, now); err == nil {
			r.Next = append(r.Next, NextSlot{Tenant: t.ID, Slot: next, Digest: t.LiveOnly()})
		}
	}
	sort.SliceStable(r.Next, func(i, j int) bool { return r.Next[i].Slot.Before(r.Next[j].Slot) })

	list := func(states ...rivertype.JobState) ([]Job, error) {
		res, err := client.JobList(ctx, river.NewJobListParams().Kinds(Kind).States(states...).First(1000))
		if err != nil {
			return nil, fmt.Errorf("queue: list jobs: %w", err)
		}
		out := []Job{}
		for _, row := range res.Jobs {
			if row.State == rivertype.JobStateAvailable && !waitsForRetry(row) {
				continue // a slot not tried yet: it runs now
			}
			out = append(out, jobOf(row))
		}
		return out, nil
	}
	if r.Running, err = list(rivertype.JobStateRunning); err != nil {
		return nil, err
	}
	if r.Retrying, err = list(rivertype.JobStateRetryable, rivertype.JobStateAvailable); err != nil {
		return nil, err
	}
	if r.Failed, err = list(rivertype.JobStateDiscarded, rivertype.JobStateCancelled); err != nil {
		return nil, err
	}
	return r, nil
}

func jobOf(row *rivertype.JobRow) Job {
	var a SlotArgs
	json.Unmarshal(row.EncodedArgs, &a)
	j := Job{ID: row.ID, Tenant: a.Tenant, Slot: a.Slot, State: string(row.State), Attempt: row.Attempt, Since: row.AttemptedAt}
	if n := len(row.AttemptedBy); n > 0 {
		j.Process = row.AttemptedBy[n-1]
	}
	if waitsForRetry(row) {
		at := row.ScheduledAt
		j.NextAt = &at
		j.State = string(rivertype.JobStateRetryable)
	}
	if n := len(row.Errors); n > 0 {
		j.LastError = row.Errors[n-1].Error
	}
	return j
}

// waitsForRetry says whether a job failed an attempt and waits for the next. River keeps such a
// job "retryable" only while its next try is more than its scheduler's interval (5 s) away: a
// retry sooner (the first, 5 s after the failure) and the last 5 s of a longer wait are
// "available" with the try's time in the future. Either way it waits for a retry.
func waitsForRetry(row *rivertype.JobRow) bool {
	return row.State == rivertype.JobStateRetryable || (row.State == rivertype.JobStateAvailable && row.Attempt > 0)
}
