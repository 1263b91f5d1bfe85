package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// localFolder is a folder on this machine (or a mounted share).
type localFolder struct{ dir string }

func openLocal(loc location) (*localFolder, error) {
	dir, err := filepath.Abs(loc.dir)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", loc, err)
	}
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("open %s: source folder does not exist", dir)
	}
	if err != nil {
		return nil, fmt.Errorf("open source folder: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("open source folder %s: not a folder", dir)
	}
	return &localFolder{dir: dir}, nil
}

func (l *localFolder) full(name string) string {
	if filepath.IsAbs(name) {
		return filepath.Clean(name)
	}
	return filepath.Join(l.dir, filepath.FromSlash(name))
}

func (l *localFolder) ready(context.Context) error { return nil }

func (l *localFolder) list(ctx context.Context) ([]fs.FileInfo, error) {
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		return nil, err
	}
	infos := make([]fs.FileInfo, 0, len(entries))
	for _, e := range entries {
		var fi fs.FileInfo
		if e.Type()&fs.ModeSymlink != 0 {
			fi, err = os.Stat(l.full(e.Name()))
		} else {
			fi, err = e.Info()
		}
		if err != nil {
			continue // removed meanwhile, or a dangling link
		}
		infos = append(infos, fi)
	}
	return infos, ctx.Err()
}

func (l *localFolder) clock(context.Context) (time.Time, error) {
	f, err := os.OpenFile(filepath.Join(l.dir, probeName()), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return time.Time{}, fmt.Errorf("create a probe file: %w", err)
	}
	fi, err := f.Stat()
	_ = f.Close()
	if rerr := os.Remove(f.Name()); err == nil && rerr != nil {
		err = fmt.Errorf("remove the probe file: %w", rerr)
	}
	if err != nil {
		return time.Time{}, err
	}
	return fi.ModTime(), nil
}

func (l *localFolder) stat(_ context.Context, name string) (fs.FileInfo, error) {
	return os.Stat(l.full(name))
}

func (l *localFolder) copyTo(ctx context.Context, name string, w io.Writer) (int64, error) {
	f, err := os.Open(l.full(name))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return io.Copy(w, ctxReader{ctx, f})
}

func (l *localFolder) mkdirAll(_ context.Context, dir string) error {
	return os.MkdirAll(l.full(dir), 0o755)
}

func (l *localFolder) rename(_ context.Context, from, to string) error {
	return os.Rename(l.full(from), l.full(to))
}

func (l *localFolder) remove(_ context.Context, name string) error {
	return os.Remove(l.full(name))
}

func (l *localFolder) close() error { return nil }

// ctxReader stops a copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
