package importer

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
)

// sumAside is an io.Reader over a file that hashes (SHA-256) what is read from it on a
// goroutine of its own: the bytes are copied into chunks that goroutine hashes, so the
// reader's goroutine, which bounds a re-import's time, pays a copy (about 0.03 s for 317 MB)
// instead of the hash (about 0.25 s). The hash is of exactly the bytes read, then of whatever
// the reader left (sum): one pass over the file.
type sumAside struct {
	r    io.Reader
	h    hash.Hash
	buf  []byte // the chunk being filled
	full chan []byte
	free chan []byte
	done chan struct{}
}

const (
	sumChunk    = 1 << 20
	sumMinChunk = 32 << 10
	sumDepth    = 4 // chunks in flight: up to 4 MiB besides the one being filled
)

// newSumAside hashes what is read from r, a file of about size bytes: a small file (a night of
// a thousand small tenants) gets chunks of an eighth of it, not five of 1 MiB.
func newSumAside(r io.Reader, size int64) *sumAside {
	chunk := int(min(max(size/8, sumMinChunk), sumChunk))
	a := &sumAside{r: r, h: sha256.New(), full: make(chan []byte, sumDepth), free: make(chan []byte, sumDepth+1), done: make(chan struct{})}
	for range sumDepth + 1 {
		a.free <- make([]byte, 0, chunk)
	}
	a.buf = <-a.free
	go func() {
		defer close(a.done)
		for b := range a.full {
			a.h.Write(b)
			a.free <- b[:0]
		}
	}()
	return a
}

func (a *sumAside) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	a.Write(p[:n])
	return n, err
}

// Write hands b to the hashing goroutine (a copy of it: the caller may reuse b).
func (a *sumAside) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		k := copy(a.buf[len(a.buf):cap(a.buf)], b)
		a.buf, b = a.buf[:len(a.buf)+k], b[k:]
		if len(a.buf) == cap(a.buf) {
			a.full <- a.buf
			a.buf = <-a.free
		}
	}
	return n, nil
}

// sum hashes the rest of the file, ends the goroutine, and returns the hex digest of all of
// it; ok is false when the rest could not be read (the goroutine ends all the same). It must
// be called once, and Read not after it.
func (a *sumAside) sum() (digest string, ok bool) {
	_, err := io.Copy(a, a.r)
	if len(a.buf) > 0 {
		a.full <- a.buf
	}
	a.buf = nil
	close(a.full)
	<-a.done
	if err != nil {
		return "", false
	}
	return hex.EncodeToString(a.h.Sum(nil)), true
}
