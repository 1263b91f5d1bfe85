package source

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var night = time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)

func TestFetchNewest(t *testing.T) {
	t.Parallel()
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			dir, c := k.setup(t)
			writeAt(t, filepath.Join(dir, "export-0228.xml"), "<enterprise>old</enterprise>", night.Add(-24*time.Hour))
			want := "<enterprise>" + strings.Repeat("x", 200_000) + "</enterprise>"
			writeAt(t, filepath.Join(dir, "export-0301.xml"), want, night)
			// Newer, but not what the pattern asks for, a hidden upload temporary, a folder.
			writeAt(t, filepath.Join(dir, "notes.txt"), "n", night.Add(time.Hour))
			writeAt(t, filepath.Join(dir, ".export-0302.xml"), "partial", night.Add(time.Hour))
			mkdir(t, filepath.Join(dir, "newer.xml"))
			spool := filepath.Join(t.TempDir(), "spool")

			f, err := open(t, c, Secrets{}).Fetch(context.Background(), spool)
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if f.Name != "export-0301.xml" {
				t.Errorf("fetched %q, want the newest matching file export-0301.xml", f.Name)
			}
			got, err := os.ReadFile(f.Path)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != want {
				t.Errorf("spool file has %d bytes, want the file's %d", len(got), len(want))
			}
			if f.SHA256 != sha([]byte(want)) || f.Size != int64(len(want)) {
				t.Errorf("SHA256, Size = %s, %d; want %s, %d", f.SHA256, f.Size, sha([]byte(want)), len(want))
			}
			if !f.ModTime.Equal(night) {
				t.Errorf("ModTime = %v, want %v", f.ModTime, night)
			}
			if filepath.Dir(f.Path) != spool {
				t.Errorf("Path %s is not in the spool %s", f.Path, spool)
			}
			if e := spoolEntries(t, spool); len(e) != 1 {
				t.Errorf("spool holds %v, want just the fetched file", e)
			}
		})
	}
}

func TestFetchPattern(t *testing.T) {
	t.Parallel()
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			dir, c := k.setup(t)
			c.Pattern = "ims_*.xml"
			writeAt(t, filepath.Join(dir, "ims_north.xml"), "ims", night)
			writeAt(t, filepath.Join(dir, "other.xml"), "other", night.Add(time.Hour))
			f, err := open(t, c, Secrets{}).Fetch(context.Background(), t.TempDir())
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if f.Name != "ims_north.xml" {
				t.Errorf("fetched %q, want ims_north.xml (other.xml does not match ims_*.xml)", f.Name)
			}
		})
	}
}

func TestFetchNoFile(t *testing.T) {
	t.Parallel()
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			dir, c := k.setup(t)
			writeAt(t, filepath.Join(dir, "readme.txt"), "x", night)
			spool := filepath.Join(t.TempDir(), "spool")
			_, err := open(t, c, Secrets{}).Fetch(context.Background(), spool)
			if !errors.Is(err, ErrNoFile) {
				t.Fatalf("Fetch error = %v, want ErrNoFile", err)
			}
			if !strings.Contains(err.Error(), `"*.xml"`) {
				t.Errorf("error %q does not say which pattern found nothing", err)
			}
			if e := spoolEntries(t, spool); len(e) != 0 {
				t.Errorf("spool holds %v after finding nothing", e)
			}
		})
	}
}

// A file the SIS is still writing is not taken; once it stops growing it is.
func TestFetchSettle(t *testing.T) {
	t.Parallel()
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			dir, c := k.setup(t)
			c.SettleTime = 400 * time.Millisecond
			p := filepath.Join(dir, "export.xml")
			writeFile(t, p, "<enterprise>")
			src := open(t, c, Secrets{})

			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Go(func() { // the SIS, still writing
				for {
					select {
					case <-stop:
						return
					case <-time.After(50 * time.Millisecond):
					}
					f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
					if err != nil {
						t.Error(err)
						return
					}
					_, _ = f.WriteString("<person/>")
					_ = f.Close()
				}
			})
			spool := t.TempDir()
			_, err := src.Fetch(context.Background(), spool)
			close(stop)
			wg.Wait()
			if !errors.Is(err, ErrNotSettled) || !errors.Is(err, ErrNoFile) {
				t.Fatalf("Fetch of a growing file: error = %v, want ErrNotSettled and ErrNoFile", err)
			}
			if src.Waited() != c.SettleTime {
				t.Errorf("waited %s for a file being written, want the whole settle time %s", src.Waited(), c.SettleTime)
			}
			if e := spoolEntries(t, spool); len(e) != 0 {
				t.Errorf("spool holds %v, want nothing from a file still being written", e)
			}

			f, err := src.Fetch(context.Background(), spool)
			if err != nil {
				t.Fatalf("Fetch after the writer stopped: %v", err)
			}
			if src.Waited() <= 0 {
				t.Error("a file written a moment ago was taken without watching it")
			}
			final, _ := os.ReadFile(p)
			if f.SHA256 != sha(final) {
				t.Errorf("fetched SHA256 %s, want the finished file's %s", f.SHA256, sha(final))
			}
		})
	}
}

func TestFetchMarker(t *testing.T) {
	t.Parallel()
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			dir, c := k.setup(t)
			c.Marker = ".done"
			c.Pattern = "*"
			c.SettleTime = time.Hour // the marker replaces the settle wait
			writeAt(t, filepath.Join(dir, "monday.xml"), "monday", night.Add(-24*time.Hour))
			writeAt(t, filepath.Join(dir, "monday.xml.done"), "", night.Add(time.Hour))
			writeAt(t, filepath.Join(dir, "tuesday.xml"), "tuesday, half written", night)
			src := open(t, c, Secrets{})

			f, err := src.Fetch(context.Background(), t.TempDir())
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if f.Name != "monday.xml" {
				t.Errorf("fetched %q, want monday.xml: tuesday.xml has no marker and a marker is never the file", f.Name)
			}
			writeFile(t, filepath.Join(dir, "tuesday.xml.done"), "")
			if f, err = src.Fetch(context.Background(), t.TempDir()); err != nil || f.Name != "tuesday.xml" {
				t.Errorf("Fetch once tuesday.xml.done exists = %v, %v; want tuesday.xml", f, err)
			}
		})
	}
}

func TestFetchMarkerMissing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "export.xml"), "x")
	_, err := open(t, Config{URL: dir, Marker: ".ok"}, Secrets{}).Fetch(context.Background(), t.TempDir())
	if !errors.Is(err, ErrNoFile) || !strings.Contains(err.Error(), `".ok" marker`) {
		t.Fatalf("Fetch error = %v, want ErrNoFile saying the marker is missing", err)
	}
}

func TestDoneMove(t *testing.T) {
	t.Parallel()
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			dir, c := k.setup(t)
			c.After, c.ProcessedDir, c.Marker = AfterMove, "processed", ".done"
			src := open(t, c, Secrets{})

			// The SIS uses one name every night: earlier processed files must survive.
			for night, content := range []string{"first night", "second night"} {
				writeFile(t, filepath.Join(dir, "export.xml"), content)
				writeFile(t, filepath.Join(dir, "export.xml.done"), "")
				f, err := src.Fetch(context.Background(), t.TempDir())
				if err != nil {
					t.Fatalf("night %d: Fetch: %v", night, err)
				}
				if err := src.Done(context.Background(), f); err != nil {
					t.Fatalf("night %d: Done: %v", night, err)
				}
				if exists(filepath.Join(dir, "export.xml")) || exists(filepath.Join(dir, "export.xml.done")) {
					t.Fatalf("night %d: export.xml or its marker is still in the source folder", night)
				}
			}
			moved, err := filepath.Glob(filepath.Join(dir, "processed", "export*.xml"))
			if err != nil {
				t.Fatal(err)
			}
			var contents []string
			for _, m := range moved {
				b, _ := os.ReadFile(m)
				contents = append(contents, string(b))
				if !exists(m + ".done") {
					t.Errorf("%s was moved without its marker", m)
				}
			}
			if strings.Join(contents, ",") != "first night,second night" && strings.Join(contents, ",") != "second night,first night" {
				t.Errorf("processed folder holds %q, want both nights' files", contents)
			}
		})
	}
}

func TestDoneDelete(t *testing.T) {
	t.Parallel()
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			dir, c := k.setup(t)
			c.After = AfterDelete
			writeFile(t, filepath.Join(dir, "export.xml"), "x")
			writeFile(t, filepath.Join(dir, "keep.xml.txt"), "not ours")
			src := open(t, c, Secrets{})
			f, err := src.Fetch(context.Background(), t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if err := src.Done(context.Background(), f); err != nil {
				t.Fatalf("Done: %v", err)
			}
			if exists(filepath.Join(dir, "export.xml")) {
				t.Error("export.xml still exists after Done with after: delete")
			}
			if !exists(filepath.Join(dir, "keep.xml.txt")) || !exists(f.Path) {
				t.Error("Done deleted more than the imported remote file")
			}
		})
	}
}

func TestDoneLeave(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "export.xml"), "x")
	src := open(t, Config{URL: dir, SettleTime: -1}, Secrets{})
	f, err := src.Fetch(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Done(context.Background(), f); err != nil || !exists(filepath.Join(dir, "export.xml")) {
		t.Fatalf("Done with the default after: leave = %v; the file must stay", err)
	}
}

// A file that was replaced after the fetch was never imported: it must not be deleted.
func TestDoneRefusesChangedFile(t *testing.T) {
	t.Parallel()
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			dir, c := k.setup(t)
			c.After = AfterDelete
			p := filepath.Join(dir, "export.xml")
			writeAt(t, p, "monday", night)
			src := open(t, c, Secrets{})
			f, err := src.Fetch(context.Background(), t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			writeAt(t, p, "tuesday!", night.Add(24*time.Hour))
			if err := src.Done(context.Background(), f); !errors.Is(err, ErrChanged) {
				t.Fatalf("Done on a replaced file: error = %v, want ErrChanged", err)
			}
			if b, _ := os.ReadFile(p); string(b) != "tuesday!" {
				t.Errorf("the new file was touched: it holds %q", b)
			}
		})
	}
}

func TestOpenMissingFolder(t *testing.T) {
	t.Parallel()
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			dir, c := k.setup(t)
			if err := os.Remove(dir); err != nil {
				t.Fatal(err)
			}
			_, err := Open(context.Background(), c, Secrets{}, nil)
			if err == nil || !strings.Contains(err.Error(), "does not exist") {
				t.Fatalf("Open of a missing folder: error = %v, want one saying it does not exist", err)
			}
		})
	}
}

func TestFetchCancelled(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "export.xml"), "x")
	src := open(t, Config{URL: dir, SettleTime: time.Hour}, Secrets{})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := src.Fetch(ctx, t.TempDir()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Fetch with a cancelled context: error = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Fetch took %s to notice the cancelled context", d)
	}
}

// TestFetchRefusesATooLargeFileBeforeDownloading: a file over MaxSize (the tenant's
// max_file_size) is refused from its listed size: nothing reaches the spool, nothing is hashed.
func TestFetchRefusesATooLargeFileBeforeDownloading(t *testing.T) {
	t.Parallel()
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			dir, c := k.setup(t)
			writeAt(t, filepath.Join(dir, "export-0301.xml"), "<enterprise>"+strings.Repeat("x", 200_000)+"</enterprise>", night)
			c.MaxSize = 100_000
			spool := filepath.Join(t.TempDir(), "spool")
			f, err := open(t, c, Secrets{}).Fetch(context.Background(), spool)
			if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "export-0301.xml") || !strings.Contains(err.Error(), "100000") {
				t.Fatalf("Fetch = %+v, %v; want ErrTooLarge naming the file and the limit", f, err)
			}
			if e := spoolEntries(t, spool); len(e) != 0 {
				t.Errorf("spool holds %v, want nothing", e)
			}
		})
	}
}
