package source

import (
	"context"
	"crypto/rand"
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
	// clock returns the time now by the clock that stamps the folder's files (the SFTP
	// server's, or a file server's behind a mount): the modification time of a probe file it
	// creates there and removes. It fails when the folder is not writable.
	clock(ctx context.Context) (time.Time, error)
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

	waited time.Duration // by the last Fetch, for the file to settle
}

func (s *source) Fetch(ctx context.Context, spoolDir string) (*File, error) {
	f, err := s.fetch(ctx, spoolDir)
	if err != nil {
		return nil, fmt.Errorf("fetch from %s: %w", s.loc, err)
	}
	return f, nil
}

func (s *source) Waited() time.Duration { return s.waited }

func (s *source) fetch(ctx context.Context, spoolDir string) (*File, error) {
	s.waited = 0
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
		if fi, err = s.settle(ctx, fi); err != nil {
			return nil, err
		}
	}
	name := fi.Name()
	if s.cfg.MaxSize > 0 && fi.Size() > s.cfg.MaxSize {
		return nil, fmt.Errorf("%s: %w: %d bytes, limit %d (the tenant's max_file_size); nothing was downloaded",
			name, ErrTooLarge, fi.Size(), s.cfg.MaxSize)
	}
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
	s.log.Info("fetched", "file", name, "size", n, "sha256", sum, "modified", f.ModTime, "waited", s.waited, "spool", p)
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
		if !fi.Mode().IsRegular() || !s.matches(name) || strings.HasPrefix(name, probePrefix) {
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

// mtimeGrain is how coarse modification times may be: SFTP (version 3) sends whole seconds.
// An age judged from two such times may be up to this much too long.
const mtimeGrain = time.Second

// settle makes sure fi is no longer being written and returns its latest stat. A file last
// modified at least SettleTime ago by the folder's own clock is taken at once. A newer one is
// watched until it has gone unchanged (size and time) for SettleTime. When the folder's clock
// cannot be read, or the file's time lies ahead of it (clock skew, or written this moment), the
// file is watched for the whole SettleTime: skew must never make a growing file look old.
func (s *source) settle(ctx context.Context, fi fs.FileInfo) (fs.FileInfo, error) {
	name, settle := fi.Name(), s.cfg.SettleTime
	watch := settle
	if now, err := s.f.clock(ctx); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		s.log.Info("cannot read the folder's clock; watching the file for the whole settle time", "file", name, "settle", settle, "err", err)
	} else {
		// Stat again after reading the clock, so that now is no later than the stat.
		if fi, err = s.restat(ctx, name); err != nil {
			return nil, err
		}
		age := now.Sub(fi.ModTime())
		switch {
		case age < 0:
			s.log.Info("file's time is ahead of the folder's clock (clock skew, or written just now); watching it for the whole settle time",
				"file", name, "modified", fi.ModTime(), "folder_clock", now, "settle", settle)
		case age-mtimeGrain >= settle:
			s.log.Debug("file settled long ago; taken at once", "file", name, "modified", fi.ModTime(), "age", age.Round(time.Second))
			return fi, nil
		default:
			watch = settle - max(age-mtimeGrain, 0)
		}
	}
	s.log.Debug("watching the file until it settles", "file", name, "modified", fi.ModTime(), "for", watch)
	t := time.NewTimer(watch)
	defer t.Stop()
	start := time.Now()
	select {
	case <-ctx.Done():
		s.waited = time.Since(start)
		return nil, ctx.Err()
	case <-t.C:
	}
	s.waited = watch
	again, err := s.restat(ctx, name)
	if err != nil {
		return nil, err
	}
	if again.Size() != fi.Size() || !again.ModTime().Equal(fi.ModTime()) {
		s.log.Info("file is still being written", "file", name, "size", fi.Size(), "now", again.Size(), "waited", watch)
		return nil, fmt.Errorf("%w: %w: %s changed from %d to %d bytes within %s (settle %s); it is taken once it stops changing",
			ErrNoFile, ErrNotSettled, name, fi.Size(), again.Size(), watch, settle)
	}
	return again, nil
}

func (s *source) restat(ctx context.Context, name string) (fs.FileInfo, error) {
	fi, err := s.f.stat(ctx, name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s disappeared while waiting for it to settle", ErrNoFile, name)
	}
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", name, err)
	}
	return fi, nil
}

// probePrefix starts the name of the clock's probe file (see folder.clock); such a file is
// never taken for an export.
const probePrefix = ".imsfeed-clock-"

// probeName is a fresh name for a probe file.
func probeName() string {
	return probePrefix + rand.Text()[:12]
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
