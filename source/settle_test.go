package source

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imsfeed/imsfeed/source/sftptest"
)

// A file the SIS finished long ago is taken at once with the default settle time: no night
// sleeps 10 s per tenant for nothing. The clock's probe file is gone afterwards.
func TestFetchTakesAnOldFileAtOnce(t *testing.T) {
	t.Parallel()
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			dir, c := k.setup(t)
			c.SettleTime = 0 // the default, 10s
			writeAt(t, filepath.Join(dir, "export.xml"), "<enterprise/>", time.Now().Add(-time.Hour))
			src := open(t, c, Secrets{})
			start := time.Now()
			f, err := src.Fetch(context.Background(), t.TempDir())
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if took := time.Since(start); src.Waited() != 0 || took >= DefaultSettleTime {
				t.Errorf("Fetch of a file modified an hour ago waited %s (took %s), want it taken at once", src.Waited(), took)
			}
			if f.Name != "export.xml" {
				t.Errorf("fetched %q", f.Name)
			}
			assertNoProbe(t, dir)
		})
	}
}

// A file modified a moment ago is watched only for what is left of the settle time.
func TestFetchWatchesARecentFileForTheRestOfTheSettleTime(t *testing.T) {
	t.Parallel()
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			dir, c := k.setup(t)
			c.SettleTime = 3 * time.Second
			writeAt(t, filepath.Join(dir, "export.xml"), "<enterprise/>", time.Now().Add(-2500*time.Millisecond))
			src := open(t, c, Secrets{})
			if _, err := src.Fetch(context.Background(), t.TempDir()); err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if w := src.Waited(); w <= 0 || w >= c.SettleTime {
				t.Errorf("waited %s for a file modified 2.5s ago with settle 3s, want more than 0 and less than 3s", w)
			}
			assertNoProbe(t, dir)
		})
	}
}

// A file whose time lies in the future (a skewed clock, or an upload that set it) says nothing
// about when it was last written: it is watched for the whole settle time, and one that keeps
// changing is not taken.
func TestFetchWatchesAFileWithAFutureTime(t *testing.T) {
	t.Parallel()
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			dir, c := k.setup(t)
			c.SettleTime = 400 * time.Millisecond
			p := filepath.Join(dir, "export.xml")
			future := time.Now().Add(time.Hour)
			writeAt(t, p, "<enterprise>", future)
			src := open(t, c, Secrets{})

			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Go(func() { // still writing, and stamping the future time each time
				for i := 1; ; i++ {
					select {
					case <-stop:
						return
					case <-time.After(50 * time.Millisecond):
					}
					appendTo(t, p, "<person/>")
					mt := future.Add(time.Duration(i) * time.Second)
					if err := os.Chtimes(p, mt, mt); err != nil {
						t.Error(err)
					}
				}
			})
			_, err := src.Fetch(context.Background(), t.TempDir())
			close(stop)
			wg.Wait()
			if !errors.Is(err, ErrNotSettled) {
				t.Fatalf("Fetch of a growing file with a future time: error = %v, want ErrNotSettled", err)
			}
			if src.Waited() != c.SettleTime {
				t.Errorf("waited %s, want the whole settle time %s", src.Waited(), c.SettleTime)
			}

			f, err := src.Fetch(context.Background(), t.TempDir())
			if err != nil {
				t.Fatalf("Fetch once the writer stopped: %v", err)
			}
			if src.Waited() != c.SettleTime {
				t.Errorf("waited %s for a file with a future time, want the whole settle time %s", src.Waited(), c.SettleTime)
			}
			final, _ := os.ReadFile(p)
			if f.SHA256 != sha(final) {
				t.Error("fetched content is not the finished file")
			}
		})
	}
}

// The age of a remote file is judged by the SFTP server's clock, not this machine's: with the
// server's clock hours behind, a file being written still looks new and is not taken; with it
// hours ahead, a file finished an hour ago (by the server) is taken at once.
func TestFetchJudgesAgeByTheServersClock(t *testing.T) {
	t.Parallel()
	for _, offset := range []time.Duration{-3 * time.Hour, 3 * time.Hour} {
		t.Run(offset.String(), func(t *testing.T) {
			t.Parallel()
			e := startSFTP(t, sftptest.Options{ClockOffset: offset})
			c := e.config("/")
			c.SettleTime = 400 * time.Millisecond
			p := filepath.Join(e.root, "growing.xml")
			writeFile(t, p, "<enterprise>")
			src := open(t, c, Secrets{})
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					case <-time.After(50 * time.Millisecond):
					}
					appendTo(t, p, "<person/>")
				}
			})
			_, err := src.Fetch(context.Background(), t.TempDir())
			close(stop)
			wg.Wait()
			if !errors.Is(err, ErrNotSettled) {
				t.Fatalf("Fetch of a growing file, server clock off by %s: error = %v, want ErrNotSettled", offset, err)
			}
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}

			c.SettleTime = 0 // the default, 10s
			writeAt(t, filepath.Join(e.root, "old.xml"), "<enterprise/>", time.Now().Add(-time.Hour))
			if _, err := open(t, c, Secrets{}).Fetch(context.Background(), t.TempDir()); err != nil {
				t.Fatalf("Fetch of a file an hour old by the server's clock: %v", err)
			}
		})
	}
}

// When the server's clock cannot be read (a read-only account cannot create the probe file),
// even an old file is watched for the whole settle time.
func TestFetchWithoutTheServersClockWatchesTheWholeSettleTime(t *testing.T) {
	t.Parallel()
	e := startSFTP(t, sftptest.Options{ReadOnly: true})
	c := e.config("/")
	c.SettleTime = 300 * time.Millisecond
	writeAt(t, filepath.Join(e.root, "export.xml"), "<enterprise/>", time.Now().Add(-time.Hour))
	var logs syncBuffer
	src, err := Open(context.Background(), c, Secrets{}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := src.Fetch(context.Background(), t.TempDir()); err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if src.Waited() != c.SettleTime {
		t.Errorf("waited %s without the server's clock, want the whole settle time %s", src.Waited(), c.SettleTime)
	}
	if !strings.Contains(logs.String(), "cannot read the folder's clock") {
		t.Errorf("the log does not say why the whole settle time was spent:\n%s", logs.String())
	}
}

func appendTo(t *testing.T, p, s string) {
	f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Error(err)
		return
	}
	_, _ = f.WriteString(s)
	_ = f.Close()
}

func assertNoProbe(t *testing.T, dir string) {
	t.Helper()
	left, _ := filepath.Glob(filepath.Join(dir, probePrefix+"*"))
	if len(left) > 0 {
		t.Errorf("probe files left in the source folder: %v", left)
	}
}
