package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path"
	"slices"
	"strings"
	"time"
)

// folder is what the shared logic needs from a kind of source. Names are relative to the
// source folder (slash-separated, e.g. "processed/x.xml") or absolute.
type folder interface {
	// ready reconnects if the connection was lost since the last operation.
	ready(ctx context.Context) error
	// list returns the entries of the source folder, symbolic links resolved.
	list(ctx context.Context) ([]fs.FileInfo, error)
	stat(ctx context.Context, name string) (fs.FileInfo, error)
	// copyTo streams the file's content into w.
	copyTo(ctx context.Context, name string, w io.Writer) (int64, error)
	mkdirAll(ctx context.Context, dir string) error
	// rename may replace an existing target; callers check first.
	rename(ctx context.Context, from, to string) error
	remove(ctx context.Context, name string) error
	close() error
}

// source is the Source both kinds share; they differ only in their folder.
type source struct {
	cfg Config // defaults applied
	loc location
	f   folder
	log *slog.Logger
}

func (s *source) Fetch(ctx context.Context, spoolDir string) (*File, error) {
	f, err := s.fetch(ctx, spoolDir)
	if err != nil {
		return nil, fmt.Errorf("fetch from %s: %w", s.loc, err)
	}
	return f, nil
}

func (s *source) fetch(ctx context.Context, spoolDir string) (*File, error) {
	if err := s.f.ready(ctx); err != nil {
		return nil, err
	}
	infos, err := s.f.list(ctx)
	if err != nil {
		return nil, fmt.Errorf("list folder: %w", err)
	}
	fi, err := s.pick(infos)
	if err != nil {
		return nil, err
	}
	if s.cfg.Marker == "" && s.cfg.SettleTime > 0 {
		if err := s.settle(ctx, fi); err != nil {
			return nil, err
		}
	}
	name := fi.Name()
	s.log.Debug("downloading", "file", name, "size", fi.Size())
	p, sum, n, err := spoolFile(spoolDir, name, func(w io.Writer) (int64, error) {
		return s.f.copyTo(ctx, name, w)
	})
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", name, err)
	}
	if n != fi.Size() {
		_ = removeSpooled(p)
		return nil, fmt.Errorf("download %s: got %d bytes but the file had %d; it changed during the download, try again", name, n, fi.Size())
	}
	f := &File{Name: name, Path: p, Size: n, SHA256: sum, ModTime: fi.ModTime()}
	s.log.Info("fetched", "file", name, "size", n, "sha256", sum, "modified", f.ModTime, "spool", p)
	return f, nil
}

// pick chooses the newest regular file matching the pattern (and having its marker).
func (s *source) pick(infos []fs.FileInfo) (fs.FileInfo, error) {
	names := make(map[string]bool, len(infos))
	for _, fi := range infos {
		names[fi.Name()] = true
	}
	var cands []fs.FileInfo
	unmarked := 0
	for _, fi := range infos {
		name := fi.Name()
		if !fi.Mode().IsRegular() || !s.matches(name) {
			continue
		}
		if s.cfg.Marker != "" {
			if strings.HasSuffix(name, s.cfg.Marker) {
				continue // a marker file itself
			}
			if !names[name+s.cfg.Marker] {
				unmarked++
				continue
			}
		}
		cands = append(cands, fi)
	}
	if len(cands) == 0 {
		if unmarked > 0 {
			return nil, fmt.Errorf("%w: %d file(s) match %q but none has its %q marker yet", ErrNoFile, unmarked, s.cfg.Pattern, s.cfg.Marker)
		}
		return nil, fmt.Errorf("%w: no file matches %q", ErrNoFile, s.cfg.Pattern)
	}
	newest := slices.MaxFunc(cands, func(a, b fs.FileInfo) int {
		if c := a.ModTime().Compare(b.ModTime()); c != 0 {
			return c
		}
		return strings.Compare(a.Name(), b.Name()) // same second: the later name
	})
	s.log.Debug("picked newest", "file", newest.Name(), "modified", newest.ModTime(), "candidates", len(cands))
	return newest, nil
}

// matches applies the pattern the way a shell does: a leading dot must be matched explicitly,
// so upload temporaries such as .export.xml are not taken.
func (s *source) matches(name string) bool {
	if strings.HasPrefix(name, ".") && !strings.HasPrefix(s.cfg.Pattern, ".") {
		return false
	}
	ok, _ := path.Match(s.cfg.Pattern, name) // pattern checked by Validate
	return ok
}

// settle waits SettleTime and checks that the file's size and time did not change.
func (s *source) settle(ctx context.Context, fi fs.FileInfo) error {
	s.log.Debug("waiting for the file to settle", "file", fi.Name(), "settle", s.cfg.SettleTime)
	t := time.NewTimer(s.cfg.SettleTime)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	}
	again, err := s.f.stat(ctx, fi.Name())
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: %s disappeared while waiting for it to settle", ErrNoFile, fi.Name())
		}
		return fmt.Errorf("stat %s: %w", fi.Name(), err)
	}
	if again.Size() != fi.Size() || !again.ModTime().Equal(fi.ModTime()) {
		return fmt.Errorf("%w: %w: %s went from %d to %d bytes within %s (settle); it is taken once it stops changing",
			ErrNoFile, ErrNotSettled, fi.Name(), fi.Size(), again.Size(), s.cfg.SettleTime)
	}
	return nil
}

func (s *source) Done(ctx context.Context, f *File) error {
	if s.cfg.After == AfterLeave {
		s.log.Info("imported file left in place", "file", f.Name)
		return nil
	}
	if err := s.done(ctx, f); err != nil {
		return fmt.Errorf("%s %s in %s: %w", s.cfg.After, f.Name, s.loc, err)
	}
	return nil
}

func (s *source) done(ctx context.Context, f *File) error {
	if err := s.f.ready(ctx); err != nil {
		return err
	}
	fi, err := s.f.stat(ctx, f.Name)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: it no longer exists", ErrChanged)
	}
	if err != nil {
		return err
	}
	if fi.Size() != f.Size || !fi.ModTime().Equal(f.ModTime) {
		return fmt.Errorf("%w: now %d bytes modified %s, fetched %d bytes modified %s; left in place",
			ErrChanged, fi.Size(), fi.ModTime().UTC().Format(time.RFC3339), f.Size, f.ModTime.UTC().Format(time.RFC3339))
	}
	names := []string{f.Name}
	if s.cfg.Marker != "" {
		if _, err := s.f.stat(ctx, f.Name+s.cfg.Marker); err == nil {
			names = append(names, f.Name+s.cfg.Marker)
		}
	}
	if s.cfg.After == AfterDelete {
		for _, n := range names {
			if err := s.f.remove(ctx, n); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		s.log.Info("imported file deleted", "file", f.Name)
		return nil
	}
	dir := s.cfg.ProcessedDir
	if err := s.f.mkdirAll(ctx, dir); err != nil {
		return fmt.Errorf("create processed_dir %s: %w", dir, err)
	}
	target := path.Join(dir, f.Name)
	if _, err := s.f.stat(ctx, target); err == nil {
		// The SIS often reuses one name every night: keep earlier files, add the time.
		ext := path.Ext(f.Name)
		target = path.Join(dir, strings.TrimSuffix(f.Name, ext)+"."+time.Now().UTC().Format("20060102T150405Z")+ext)
	}
	for i, n := range names {
		to := target
		if i > 0 {
			to = target + s.cfg.Marker
		}
		if err := s.f.rename(ctx, n, to); err != nil {
			return err
		}
	}
	s.log.Info("imported file moved", "file", f.Name, "to", target)
	return nil
}

func (s *source) Close() error { return s.f.close() }
