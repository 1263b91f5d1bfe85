package main

import (
	"bytes"
	"crypto/tls"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// certFiles serves the listener's certificate as http.tls's files hold it now: when they are
// replaced or rewritten (a renewal, every 60-90 days with Let's Encrypt) new connections get the
// new pair without a restart; connections open stay on theirs. The files are read every
// certCheck; a pair that does not load (half written, a key that is not the certificate's) keeps
// the certificate before, is logged once per change of the files (their names and why, never
// the key) and is tried again at each look until it loads.
type certFiles struct {
	certFile, keyFile string
	log               *slog.Logger

	cur    atomic.Pointer[tls.Certificate]
	loaded fileSums // the files as the pair served was read from them
	// failed and failedErr: the files as they last did not load, and why (as logged); nil after
	// a load.
	failed    *fileSums
	failedErr string
	stop      chan struct{}
	done      sync.WaitGroup
}

// fileSums is what the certificate and key files held when read: each one's SHA-256, or why it
// could not be read. Their size and modification time would miss a rotation in place that keeps
// both (`cp -p`, a rewrite within the file system's clock step), and the old certificate would
// be served on; the two files are a few KB, read every certCheck.
type fileSums [2]string

// certCheck is how often the files are looked at (a read of each).
const certCheck = 2 * time.Second

// loadCertFiles reads the pair (an error: serve does not start) and looks at the files every
// certCheck until close.
func loadCertFiles(certFile, keyFile string, log *slog.Logger) (*certFiles, error) {
	c := &certFiles{certFile: certFile, keyFile: keyFile, log: log, stop: make(chan struct{})}
	certPEM, keyPEM, sums, err := c.read()
	if err != nil {
		return nil, err
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	clear(keyPEM)
	if err != nil {
		return nil, err
	}
	c.loaded = sums
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

// read returns the files' content and sums, and the first file's error if one cannot be read.
// The pair is loaded from these bytes, so the sums are those of the pair served.
func (c *certFiles) read() (certPEM, keyPEM []byte, sums fileSums, err error) {
	var content [2][]byte
	for i, f := range []string{c.certFile, c.keyFile} {
		var rerr error
		content[i], sums[i], rerr = readStamped(f)
		if err == nil {
			err = rerr
		}
	}
	return content[0], content[1], sums, err
}

// look loads the pair when the files' content changed since the one served was read, or the
// last try failed.
func (c *certFiles) look() {
	certPEM, keyPEM, sums, err := c.read()
	defer clear(keyPEM)
	if c.failed == nil && sums == c.loaded {
		return
	}
	var pair tls.Certificate
	if err == nil {
		pair, err = tls.X509KeyPair(certPEM, keyPEM)
	}
	if err != nil {
		// Logged once per change of the files or of the error. The errors say what is wrong
		// (a file that cannot be read, no PEM data, a key that does not match), never the key.
		if c.failed == nil || sums != *c.failed || err.Error() != c.failedErr {
			c.log.Warn("http.tls: the certificate files changed but do not load; new connections keep the certificate before (tried again every "+certCheck.String()+")",
				"cert_file", c.certFile, "key_file", c.keyFile, "err", err)
		}
		c.failed, c.failedErr = &sums, err.Error()
		return
	}
	same := bytes.Equal(pair.Certificate[0], c.cur.Load().Certificate[0]) // back as it was after a failed try, or the same certificate in other text
	c.cur.Store(&pair)
	c.loaded, c.failed = sums, nil
	if same {
		return
	}
	attrs := []any{"cert_file", c.certFile, "key_file", c.keyFile}
	if pair.Leaf != nil {
		attrs = append(attrs, "subject", pair.Leaf.Subject.String(), "not_after", pair.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	c.log.Info("http.tls: the certificate files changed; new connections get the new certificate", attrs...)
}
