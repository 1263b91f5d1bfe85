package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/importer"
	"github.com/imsfeed/imsfeed/mailer"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/samples/feedgen"
	"github.com/imsfeed/imsfeed/store/sqlite"
)

// The night case is `imsfeed run --all --parallel 2` over many small tenants: each has a local
// source folder holding the export its SIS left an hour before (a school owner of 300 persons),
// the default settle time, and all share one SQLite store and an outbox. It measures what the
// night costs beyond the imports themselves: fetching, settling, mailing. It makes its own
// files (in IMSFEED_BENCH_STATE_DIR, else next to FILE, removed afterwards) and runs once,
// whatever the number of FILEs. IMSFEED_BENCH_NIGHT_TENANTS runs fewer tenants (for its test)
// under the same name.
const (
	nightTenants    = 50
	nightParallel   = 2
	envNightTenants = "IMSFEED_BENCH_NIGHT_TENANTS"
)

func nightCase() benchCase {
	return benchCase{
		name:  fmt.Sprintf("night-%d", nightTenants),
		about: fmt.Sprintf("run --all --parallel %d: %d tenants on local folders, files an hour old, default settle, SQLite", nightParallel, nightTenants),
		once:  true,
		phased: func(ctx context.Context, f *os.File) (map[string]int, map[string]float64, error) {
			return night(ctx, f.Name())
		},
	}
}

func night(ctx context.Context, file string) (map[string]int, map[string]float64, error) {
	base := os.Getenv(envStateDir)
	if base == "" {
		base = filepath.Dir(file)
	}
	dir, err := os.MkdirTemp(base, "bench-night-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(dir)

	var feed bytes.Buffer
	if err := feedgen.Write(&feed, feedgen.Options{Persons: 300, Groups: 30, MembersPerGroup: 20, Seed: 9}); err != nil {
		return nil, nil, err
	}
	cfg := &config.Config{DataDir: dir, Spool: filepath.Join(dir, "spool"), Outbox: filepath.Join(dir, "outbox"), LockWait: time.Minute}
	tenants := nightTenants
	if n, err := strconv.Atoi(os.Getenv(envNightTenants)); err == nil && n > 0 {
		tenants = n
	}
	hourAgo := time.Now().Add(-time.Hour)
	for i := range tenants {
		t := config.DefaultTenant(fmt.Sprintf("school-%02d", i+1))
		folder := filepath.Join(dir, "sis", t.ID)
		if err := os.MkdirAll(folder, 0o755); err != nil {
			return nil, nil, err
		}
		p := filepath.Join(folder, "export.xml")
		if err := os.WriteFile(p, feed.Bytes(), 0o644); err != nil {
			return nil, nil, err
		}
		if err := os.Chtimes(p, hourAgo, hourAgo); err != nil {
			return nil, nil, err
		}
		t.Source.URL = folder // settle: the default
		cfg.Tenants = append(cfg.Tenants, t)
	}
	st, err := sqlite.Open(ctx, filepath.Join(dir, "state.db"))
	if err != nil {
		return nil, nil, err
	}
	defer st.Close()
	im := importer.New(importer.Params{Config: cfg, Store: st, Mailer: mailer.New(nil, cfg.Outbox, nil)})

	start := time.Now()
	out, errs := im.RunAll(ctx, nightParallel)
	took := time.Since(start)
	var waited time.Duration
	completed := 0
	for i, r := range out {
		if errs[i] != nil {
			return nil, nil, fmt.Errorf("tenant %s: %w", cfg.Tenants[i].ID, errs[i])
		}
		if r.Status != runs.Completed {
			return nil, nil, fmt.Errorf("tenant %s: run %s, want completed (%v)", r.Tenant, r.Status, r.Error)
		}
		completed++
		if d, ok := r.FetchWait(); ok {
			waited += d
		}
	}
	return map[string]int{"tenants": tenants, "completed": completed, "bytes": tenants * feed.Len()},
		map[string]float64{"night": took.Seconds(), "fetch-wait": waited.Seconds()}, nil
}
