package sftptest

import (
	"io"
	"io/fs"
	"os"
	"path"
	"time"

	"github.com/pkg/sftp"
)

// handler maps SFTP requests to the server's root. pkg/sftp hands it clean absolute paths
// (relative ones are resolved against "/", which is also the home).
type handler struct {
	c    *conn
	root *os.Root
}

// rel turns the client's absolute path into a name inside the root.
func rel(p string) string {
	r := path.Clean("/" + p)[1:]
	if r == "" {
		return "."
	}
	return r
}

func (h *handler) Fileread(r *sftp.Request) (io.ReaderAt, error) {
	f, err := h.root.Open(rel(r.Filepath))
	if err != nil {
		return nil, err
	}
	return &faultyReader{c: h.c, f: f}, nil
}

func (h *handler) Filewrite(r *sftp.Request) (io.WriterAt, error) {
	if h.c.s.opts.ReadOnly {
		return nil, fs.ErrPermission
	}
	flags := os.O_WRONLY | os.O_CREATE
	pf := r.Pflags()
	if pf.Trunc {
		flags |= os.O_TRUNC
	}
	if pf.Excl {
		flags |= os.O_EXCL
	}
	return h.root.OpenFile(rel(r.Filepath), flags, 0o644)
}

func (h *handler) Filecmd(r *sftp.Request) error {
	p := rel(r.Filepath)
	if h.c.s.opts.ReadOnly {
		return fs.ErrPermission
	}
	switch r.Method {
	case "Setstat":
		a := r.Attributes()
		if r.AttrFlags().Acmodtime {
			off := h.c.s.opts.ClockOffset
			return h.root.Chtimes(p, a.AccessTime().Add(-off), a.ModTime().Add(-off))
		}
		return nil
	case "Rename":
		// SFTP v3: renaming onto an existing name is an error.
		if _, err := h.root.Lstat(rel(r.Target)); err == nil {
			return fs.ErrExist
		}
		return h.root.Rename(p, rel(r.Target))
	case "Rmdir", "Remove":
		return h.root.Remove(p)
	case "Mkdir":
		return h.root.Mkdir(p, 0o755)
	}
	return sftp.ErrSSHFxOpUnsupported
}

// PosixRename replaces the target, as posix-rename@openssh.com does.
func (h *handler) PosixRename(r *sftp.Request) error {
	if h.c.s.opts.ReadOnly {
		return fs.ErrPermission
	}
	return h.root.Rename(rel(r.Filepath), rel(r.Target))
}

func (h *handler) Filelist(r *sftp.Request) (sftp.ListerAt, error) {
	p := rel(r.Filepath)
	switch r.Method {
	case "List":
		f, err := h.root.Open(p)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		infos, err := f.Readdir(-1)
		if err != nil {
			return nil, err
		}
		for i := range infos {
			infos[i] = h.shift(infos[i])
		}
		return lister(infos), nil
	case "Stat":
		fi, err := h.root.Stat(p)
		if err != nil {
			return nil, err
		}
		return lister{h.shift(fi)}, nil
	}
	return nil, sftp.ErrSSHFxOpUnsupported
}

// Lstat does not follow a final symbolic link.
func (h *handler) Lstat(r *sftp.Request) (sftp.ListerAt, error) {
	fi, err := h.root.Lstat(rel(r.Filepath))
	if err != nil {
		return nil, err
	}
	return lister{h.shift(fi)}, nil
}

// shift shows fi's modification time by the server's clock (Options.ClockOffset).
func (h *handler) shift(fi fs.FileInfo) fs.FileInfo {
	if h.c.s.opts.ClockOffset == 0 {
		return fi
	}
	return shifted{fi, fi.ModTime().Add(h.c.s.opts.ClockOffset)}
}

type shifted struct {
	fs.FileInfo
	mod time.Time
}

func (s shifted) ModTime() time.Time { return s.mod }

type lister []fs.FileInfo

func (l lister) ListAt(out []fs.FileInfo, off int64) (int, error) {
	if off >= int64(len(l)) {
		return 0, io.EOF
	}
	n := copy(out, l[off:])
	if n < len(out) {
		return n, io.EOF
	}
	return n, nil
}

var _ interface {
	sftp.PosixRenameFileCmder
	sftp.LstatFileLister
} = (*handler)(nil)
