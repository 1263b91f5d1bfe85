package sqlite

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/store"
)

// A run's sign of life is kept in a file beside the database, not in it: the database's one
// write transaction may be the import's own for minutes (an initial load writes while it
// reads, an apply), and a mark waiting for it would say nothing. Every process on the file is
// on this machine, so every one that finds the run dead reads the file.

func (s *Store) alivePath(id int64) string {
	return filepath.Join(s.path+".locks", fmt.Sprintf("run-%d.alive", id))
}

// MarkAlive implements store.Store.
func (s *Store) MarkAlive(ctx context.Context, id int64, at time.Time) error {
	p := s.alivePath(id)
	if at.IsZero() {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("mark run %d done: %w", id, err)
		}
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("mark run %d alive: %w", id, err)
	}
	// Written whole beside it, then renamed over it: a process killed mid-write (the mark
	// comes every second) leaves the last whole mark, never an empty file.
	tmp := p + ".new"
	if err := os.WriteFile(tmp, []byte(at.UTC().Format(time.RFC3339Nano)), 0o600); err != nil {
		return fmt.Errorf("mark run %d alive: %w", id, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("mark run %d alive: %w", id, err)
	}
	return nil
}

// ListRuns implements store.Store: a run still running has its last sign of life.
func (s *Store) ListRuns(ctx context.Context, p store.ListRunsParams) ([]*runs.Run, error) {
	list, err := s.core.ListRuns(ctx, p)
	for _, r := range list {
		if r.Status != runs.Running {
			continue
		}
		data, rerr := os.ReadFile(s.alivePath(r.ID))
		if rerr != nil {
			continue // none given yet
		}
		if at, perr := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(data))); perr == nil {
			r.AliveAt = &at
		}
	}
	return list, err
}
