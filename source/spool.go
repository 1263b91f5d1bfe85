package source

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Spool files are named HASH16-NAME: the same content fetched twice is one file, and
// PruneSpool touches nothing else in the folder.
var spoolName = regexp.MustCompile(`^[0-9a-f]{16}-.`)

const (
	tempPrefix = ".tmp-"
	// staleTemp is how old a temporary file must be before PruneSpool removes it, so that a
	// download in progress in another process is not cut short.
	staleTemp = time.Hour
)

// spoolFile writes what copy produces to a temporary file in dir, fsyncs it and renames it to
// its final name. On error nothing is left behind.
func spoolFile(dir, name string, copy func(io.Writer) (int64, error)) (p, sum string, n int64, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", 0, fmt.Errorf("spool: %w", err)
	}
	tmp, err := os.CreateTemp(dir, tempPrefix+"*")
	if err != nil {
		return "", "", 0, fmt.Errorf("spool: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	n, err = copy(io.MultiWriter(tmp, h))
	if err != nil {
		return "", "", n, err
	}
	if err = tmp.Sync(); err != nil {
		return "", "", n, fmt.Errorf("spool: %w", err)
	}
	if err = tmp.Close(); err != nil {
		return "", "", n, fmt.Errorf("spool: %w", err)
	}
	sum = hex.EncodeToString(h.Sum(nil))
	p = filepath.Join(dir, sum[:16]+"-"+filepath.Base(name))
	if err = os.Rename(tmp.Name(), p); err != nil {
		return "", "", n, fmt.Errorf("spool: %w", err)
	}
	// The rename is only durable once the folder is synced.
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return p, sum, n, nil
}

func removeSpooled(p string) error { return os.Remove(p) }

// PruneSpool removes all but the keep most recently fetched files from the spool folder dir
// (keep < 1 means DefaultKeep, so Config.Keep can be passed as it is), and temporary files
// left by interrupted downloads more than an hour ago. Files not written by Fetch are left
// alone. Give each tenant its own spool folder: keep counts every spooled file in dir. A
// missing folder is not an error.
func PruneSpool(dir string, keep int) error {
	if keep < 1 {
		keep = DefaultKeep
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("prune spool: %w", err)
	}
	type spooled struct {
		name string
		mod  time.Time
	}
	var files []spooled
	var errs []error
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		switch {
		case strings.HasPrefix(e.Name(), tempPrefix):
			if time.Since(info.ModTime()) > staleTemp {
				errs = append(errs, os.Remove(filepath.Join(dir, e.Name())))
			}
		case spoolName.MatchString(e.Name()):
			files = append(files, spooled{e.Name(), info.ModTime()})
		}
	}
	slices.SortFunc(files, func(a, b spooled) int { // newest first
		if c := b.mod.Compare(a.mod); c != 0 {
			return c
		}
		return strings.Compare(b.name, a.name)
	})
	for _, f := range files[min(keep, len(files)):] {
		errs = append(errs, os.Remove(filepath.Join(dir, f.name)))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("prune spool: %w", err)
	}
	return nil
}
