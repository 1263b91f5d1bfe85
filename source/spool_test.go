package source

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestPruneSpool(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	now := time.Now()
	var want []string
	for i := range 8 { // spool-00 oldest … spool-07 newest
		name := fmt.Sprintf("%016x-export.xml", i)
		writeAt(t, filepath.Join(dir, name), "x", now.Add(time.Duration(i-10)*time.Minute))
		if i >= 3 {
			want = append(want, name)
		}
	}
	writeAt(t, filepath.Join(dir, ".tmp-stale"), "interrupted", now.Add(-2*time.Hour))
	writeAt(t, filepath.Join(dir, ".tmp-active"), "downloading", now)
	writeAt(t, filepath.Join(dir, "README"), "not a spool file", now.Add(-48*time.Hour))
	want = append(want, ".tmp-active", "README")

	if err := PruneSpool(dir, 5); err != nil {
		t.Fatalf("PruneSpool: %v", err)
	}
	got := spoolEntries(t, dir)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("after PruneSpool(5) the spool holds\n%v\nwant the 5 newest, the active temp file and README:\n%v", got, want)
	}

	if err := PruneSpool(dir, 0); err != nil { // Config.Keep unset
		t.Fatal(err)
	}
	if got := spoolEntries(t, dir); len(got) != len(want) {
		t.Errorf("PruneSpool(0) left %v, want the default 5 spool files kept", got)
	}
	if err := PruneSpool(dir, 1); err != nil {
		t.Fatal(err)
	}
	if !exists(filepath.Join(dir, fmt.Sprintf("%016x-export.xml", 7))) || exists(filepath.Join(dir, fmt.Sprintf("%016x-export.xml", 6))) {
		t.Error("PruneSpool(1) did not keep exactly the newest file")
	}
	if err := PruneSpool(filepath.Join(dir, "missing"), 5); err != nil {
		t.Errorf("PruneSpool of a missing folder: %v", err)
	}
}

// Fetching then pruning night after night keeps the last Keep files, each under its hash.
func TestSpoolNightly(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	spool := t.TempDir()
	s := open(t, Config{URL: src, SettleTime: -1}, Secrets{})
	var paths []string
	for i := range 4 {
		content := fmt.Sprintf("<enterprise>night %d</enterprise>", i%3) // night 3 repeats night 0
		writeAt(t, filepath.Join(src, "export.xml"), content, night.Add(time.Duration(i)*24*time.Hour))
		f, err := s.Fetch(context.Background(), spool)
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(f.Path); string(b) != content || f.SHA256 != sha(b) {
			t.Fatalf("night %d: spool file %s holds %q, want %q with its hash", i, f.Path, b, content)
		}
		paths = append(paths, f.Path)
		if err := PruneSpool(spool, 2); err != nil {
			t.Fatal(err)
		}
	}
	if paths[3] != paths[0] {
		t.Errorf("identical content got two spool names: %s and %s", paths[0], paths[3])
	}
	got := spoolEntries(t, spool)
	want := []string{filepath.Base(paths[2]), filepath.Base(paths[3])}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("spool holds %v, want the last two fetches %v", got, want)
	}
}
