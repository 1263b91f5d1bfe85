package main

import (
	"bytes"
	"crypto/tls"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// certFiles serves the listener's certificate as http.tls's files hold it now: when they are
// replaced (a renewal, every 60-90 days with Let's Encrypt) new connections get the new pair
// without a restart; connections open stay on theirs. The files are looked at every certCheck;
// a pair that does not load (half written, a key that is not the certificate's) keeps the
// certificate before, is logged once per change of the files (their names and why, never the
// key) and is tried again at each look until it loads.
type certFiles struct {
	certFile, keyFile string
	log               *slog.Logger

	cur    atomic.Pointer[tls.Certificate]
	loaded []os.FileInfo // the files as the pair served was read from them
	// failed and failedErr: the files as they last did not load, and why (as logged); nil after
	// a load.
	failed    []os.FileInfo
	failedErr string
	stop      chan struct{}
	done      sync.WaitGroup
}

// certCheck is how often the files are looked at (a stat of each).
const certCheck = 2 * time.Second

// loadCertFiles reads the pair (an error: serve does not start) and looks at the files every
// certCheck until close.
func loadCertFiles(certFile, keyFile string, log *slog.Logger) (*certFiles, error) {
	c := &certFiles{certFile: certFile, keyFile: keyFile, log: log, stop: make(chan struct{})}
	c.loaded = c.stat()
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	c.cur.Store(&pair)
	c.done.Add(1)
	go func() {
		defer c.done.Done()
		tick := time.NewTicker(certCheck)
		defer tick.Stop()
		for {
			select {
			case <-c.stop:
				return
			case <-tick.C:
				c.look()
			}
		}
	}()
	return c, nil
}

// get is tls.Config.GetCertificate.
func (c *certFiles) get(*tls.ClientHelloInfo) (*tls.Certificate, error) { return c.cur.Load(), nil }

func (c *certFiles) close() {
	close(c.stop)
	c.done.Wait()
}

// stat returns the files' state (nil for a file that cannot be stat'ed).
func (c *certFiles) stat() []os.FileInfo {
	var fis []os.FileInfo
	for _, f := range []string{c.certFile, c.keyFile} {
		fi, _ := os.Stat(f)
		fis = append(fis, fi)
	}
	return fis
}

// sameFiles: neither file was replaced or written (same file, size and modification time).
func sameFiles(a, b []os.FileInfo) bool {
	for i := range a {
		if a[i] == nil || b[i] == nil {
			if a[i] != b[i] {
				return false
			}
			continue
		}
		if !os.SameFile(a[i], b[i]) || a[i].Size() != b[i].Size() || !a[i].ModTime().Equal(b[i].ModTime()) {
			return false
		}
	}
	return true
}

// look loads the pair when the files changed since the one served was read, or the last try
// failed.
func (c *certFiles) look() {
	fis := c.stat()
	if c.failed == nil && sameFiles(fis, c.loaded) {
		return
	}
	pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		// Logged once per change of the files or of the error. LoadX509KeyPair's errors say
		// what is wrong (no PEM data, a key that does not match), never the key.
		if c.failed == nil || !sameFiles(fis, c.failed) || err.Error() != c.failedErr {
			c.log.Warn("http.tls: the certificate files changed but do not load; new connections keep the certificate before (tried again every "+certCheck.String()+")",
				"cert_file", c.certFile, "key_file", c.keyFile, "err", err)
		}
		c.failed, c.failedErr = fis, err.Error()
		return
	}
	same := bytes.Equal(pair.Certificate[0], c.cur.Load().Certificate[0]) // files touched, or rewritten as they were
	c.cur.Store(&pair)
	c.loaded, c.failed = fis, nil
	if same {
		return
	}
	attrs := []any{"cert_file", c.certFile, "key_file", c.keyFile}
	if pair.Leaf != nil {
		attrs = append(attrs, "subject", pair.Leaf.Subject.String(), "not_after", pair.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	c.log.Info("http.tls: the certificate files changed; new connections get the new certificate", attrs...)
}
