// Command queuenight is issue 13's benchmark (`make bench`, BENCH_CASES=queue-night): a night of
// many tenants (default 1,000 of 3,000 persons each, local folders) scheduled at one slot, worked
// by 1, 2 and 3 `imsfeed serve` processes on one PostgreSQL (a fresh database each). It prints
// the night's total time, the mean run and its overhead over a bare `imsfeed import` of the same
// file, and each process's peak RSS.
//
//	queuenight -imsfeed BIN -postgres URL [-tenants 1000] [-persons 3000] [-procs 1,2,3]
package main

import (
	"bytes"
	"database/sql"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	_ "github.com/lib/pq"

	"github.com/imsfeed/imsfeed/samples/feedgen"
)

func main() {
	bin := flag.String("imsfeed", "", "the imsfeed binary")
	pg := flag.String("postgres", "", "PostgreSQL URL of a server where databases may be created")
	tenants := flag.Int("tenants", 1000, "tenants in the night")
	persons := flag.Int("persons", 3000, "persons per tenant")
	procs := flag.String("procs", "1,2,3", "serve processes per night, comma-separated")
	flag.Parse()
	if *bin == "" || *pg == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*bin, *pg, *tenants, *persons, *procs); err != nil {
		fmt.Fprintln(os.Stderr, "queuenight:", err)
		os.Exit(1)
	}
}

func run(bin, pg string, tenants, persons int, procs string) error {
	dir, err := os.MkdirTemp("", "imsfeed-queuenight-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var feed bytes.Buffer
	if err := feedgen.Write(&feed, feedgen.Options{Persons: persons, Groups: persons / 10, MembersPerGroup: 25, Seed: 13}); err != nil {
		return err
	}
	file := filepath.Join(dir, "export.xml")
	if err := os.WriteFile(file, feed.Bytes(), 0o644); err != nil {
		return err
	}
	for i := 0; i < tenants; i++ {
		folder := filepath.Join(dir, "sis", fmt.Sprintf("t%04d", i))
		if err := os.MkdirAll(folder, 0o755); err != nil {
			return err
		}
		if err := os.Link(file, filepath.Join(folder, "export.xml")); err != nil {
			return err
		}
	}
	fmt.Printf("queue night: %d tenants of %d persons (%.1f MB each), one PostgreSQL, workers = cores\n\n", tenants, persons, float64(feed.Len())/1e6)

	bare, err := bareImport(bin, pg, dir, file)
	if err != nil {
		return err
	}
	fmt.Printf("bare `imsfeed import` of the file, a process of its own (fastest of 3): %s\n", bare.Round(time.Millisecond))
	fmt.Println("wall per tenant = night / tenants; a tenant's overhead is what it costs beyond the bare import")
	fmt.Println()
	fmt.Println("| serve processes | night | tenants/min | wall per tenant | mean run (started → finished) | peak RSS per process |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, p := range strings.Split(procs, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 1 {
			return fmt.Errorf("-procs: %q", p)
		}
		if err := night(bin, pg, dir, tenants, n); err != nil {
			return err
		}
	}
	return nil
}

// freshDB creates a database and returns its URL and a function that drops it.
func freshDB(admin string) (string, func(), error) {
	db, err := sql.Open("postgres", admin)
	if err != nil {
		return "", nil, err
	}
	name := fmt.Sprintf("imsfeed_qn_%08x", rand.Uint32())
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		db.Close()
		return "", nil, err
	}
	u, err := url.Parse(admin)
	if err != nil {
		return "", nil, err
	}
	u.Path = "/" + name
	return u.String(), func() { db.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); db.Close() }, nil
}

func writeConfig(path, store, dir string, tenants int, schedule string) error {
	var b strings.Builder
	off := "{inserts: off, updates: off, deletes: off}"
	fmt.Fprintf(&b, "store: %q\ndata_dir: %s\nqueue: {rescue_after: 15m}\ntenants:\n", store, filepath.Join(dir, "data"))
	for i := 0; i < tenants; i++ {
		fmt.Fprintf(&b, "  - id: t%04d\n    schedule: %q\n    source: {url: \"file://%s\", settle: -1s}\n    safety: {persons: %s, groups: %s, memberships: %s}\n",
			i, schedule, filepath.Join(dir, "sis", fmt.Sprintf("t%04d", i)), off, off, off)
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

func bareImport(bin, pg, dir, file string) (time.Duration, error) {
	best := time.Duration(0)
	for i := 0; i < 3; i++ {
		store, drop, err := freshDB(pg)
		if err != nil {
			return 0, err
		}
		cfg := filepath.Join(dir, "bare.yaml")
		if err := writeConfig(cfg, store, dir, 1, "0 2 * * *"); err != nil {
			drop()
			return 0, err
		}
		// The store's schema first: the import is timed, not the migration.
		if out, err := exec.Command(bin, "--config", cfg, "status", "--tenant", "t0000").CombinedOutput(); err != nil {
			drop()
			return 0, fmt.Errorf("bare import: status: %v\n%s", err, out)
		}
		began := time.Now()
		out, err := exec.Command(bin, "--config", cfg, "import", "--tenant", "t0000", file).CombinedOutput()
		took := time.Since(began)
		drop()
		if err != nil {
			return 0, fmt.Errorf("bare import: %v\n%s", err, out)
		}
		if best == 0 || took < best {
			best = took
		}
	}
	return best, nil
}

func night(bin, pg, dir string, tenants, procs int) error {
	store, drop, err := freshDB(pg)
	if err != nil {
		return err
	}
	defer drop()
	os.RemoveAll(filepath.Join(dir, "data"))
	// One slot for every tenant: the current minute, which the first leader inserts at once.
	now := time.Now()
	cfg := filepath.Join(dir, "night.yaml")
	if err := writeConfig(cfg, store, dir, tenants, fmt.Sprintf("%d %d * * *", now.Minute(), now.Hour())); err != nil {
		return err
	}
	// Migrate before the clock starts, so each night measures work, not set-up.
	if out, err := exec.Command(bin, "--config", cfg, "queue").CombinedOutput(); err != nil {
		return fmt.Errorf("imsfeed queue: %v\n%s", err, out)
	}
	db, err := sql.Open("postgres", store)
	if err != nil {
		return err
	}
	defer db.Close()
	began := time.Now()
	cmds := make([]*exec.Cmd, procs)
	for i := range cmds {
		cmds[i] = exec.Command(bin, "--config", cfg, "serve")
		if err := cmds[i].Start(); err != nil {
			return err
		}
	}
	var done int
	var mean float64
	for time.Since(began) < 2*time.Hour {
		time.Sleep(500 * time.Millisecond)
		if err := db.QueryRow(`SELECT count(*) FROM runs WHERE status <> 'running'`).Scan(&done); err != nil {
			continue
		}
		if done >= tenants {
			break
		}
	}
	night := time.Since(began)
	// The mean run: started → finished, from the records.
	db.QueryRow(`SELECT avg(EXTRACT(EPOCH FROM ((data::jsonb->>'finished_at')::timestamptz - (data::jsonb->>'started_at')::timestamptz))) FROM runs`).Scan(&mean)
	var failed int
	db.QueryRow(`SELECT count(*) FROM runs WHERE status <> 'completed'`).Scan(&failed)
	var rss []string
	for _, c := range cmds {
		c.Process.Signal(syscall.SIGTERM)
		c.Wait()
		if ru, ok := c.ProcessState.SysUsage().(*syscall.Rusage); ok {
			rss = append(rss, fmt.Sprintf("%d MB", ru.Maxrss/1024))
		}
	}
	per := night / time.Duration(tenants)
	note := ""
	if failed > 0 {
		note = fmt.Sprintf(" (%d runs not completed!)", failed)
	}
	fmt.Printf("| %d | %s | %.0f | %s | %s | %s |%s\n", procs, night.Round(time.Second), float64(done)/night.Minutes(),
		per.Round(time.Millisecond), (time.Duration(mean * float64(time.Second))).Round(time.Millisecond), strings.Join(rss, ", "), note)
	return nil
}
