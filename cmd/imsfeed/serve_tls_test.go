package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// A renewed certificate (its files replaced, as certbot does every 60-90 days) is served to new
// connections without a restart; a replacement that does not load keeps the certificate before,
// logged once with the files and why (never the key), and a good pair later is taken.
func TestServePicksUpARenewedCertificate(t *testing.T) {
	dir := t.TempDir()
	a, b := newTestCA(t, t.TempDir()), newTestCA(t, t.TempDir())
	pool := x509.NewCertPool()
	for _, ca := range []testCA{a, b} {
		pem, _ := os.ReadFile(ca.caFile)
		pool.AppendCertsFromPEM(pem)
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	// install writes the files as a renewal does: each written aside and renamed over (nil: left).
	install := func(cert, key []byte) {
		t.Helper()
		later := time.Now().Add(2 * time.Second) // a modification time that differs on any file system
		for file, b := range map[string][]byte{certFile: cert, keyFile: key} {
			if b == nil {
				continue
			}
			if err := os.WriteFile(file+".new", b, 0o600); err != nil {
				t.Fatal(err)
			}
			os.Chtimes(file+".new", later, later)
			if err := os.Rename(file+".new", file); err != nil {
				t.Fatal(err)
			}
		}
	}
	read := func(file string) []byte { b, _ := os.ReadFile(file); return b }
	install(read(a.certFile), read(a.keyFile))
	os.WriteFile(filepath.Join(dir, "es-pass"), []byte("pw"), 0o600)
	os.WriteFile(filepath.Join(dir, "imsfeed.yaml"), []byte(liveConfig(dir, fmt.Sprintf(`http:
  listen: "127.0.0.1:0"
  tls: {cert_file: %s, key_file: %s}`, certFile, keyFile))), 0o600)
	s := startServe(t, dir)

	// served is the certificate a new connection gets.
	served := func() []byte {
		t.Helper()
		conn, err := tls.Dial("tcp", strings.TrimPrefix(s.url, "https://"), &tls.Config{RootCAs: pool})
		if err != nil {
			t.Fatalf("a new connection: %v\n%s", err, s.stderr.String())
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].Raw
	}
	der := func(ca testCA) []byte { p, _ := pem.Decode(read(ca.certFile)); return p.Bytes }
	// waitFor polls new connections until they get ca's certificate.
	waitFor := func(ca testCA, what string) {
		t.Helper()
		for deadline := time.Now().Add(15 * time.Second); !bytes.Equal(served(), der(ca)); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: new connections still get the certificate before\n%s", what, s.stderr.String())
			}
		}
	}
	if !bytes.Equal(served(), der(a)) {
		t.Fatal("serve does not serve the certificate of its files")
	}
	install(read(b.certFile), read(b.keyFile))
	waitFor(b, "the renewed pair")
	if !regexp.MustCompile(`level=INFO msg="http.tls: .*cert_file=` + regexp.QuoteMeta(certFile) + `.*not_after=`).MatchString(s.stderr.String()) {
		t.Errorf("serve's log does not say the renewed certificate is served:\n%s", s.stderr.String())
	}

	// Half a key (a renewal caught while writing), then a key that is not the certificate's.
	warned := func(why string) int {
		re := regexp.MustCompile(`level=WARN msg="http.tls: .*cert_file=` + regexp.QuoteMeta(certFile) + ` key_file=` + regexp.QuoteMeta(keyFile) + `.*err=.*` + why)
		return len(re.FindAllString(s.stderr.String(), -1))
	}
	waitWarned := func(why string) {
		t.Helper()
		for deadline := time.Now().Add(15 * time.Second); warned(why) == 0; time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no WARN naming both files and %q\n%s", why, s.stderr.String())
			}
		}
	}
	bKey := read(b.keyFile)
	install(nil, bKey[:len(bKey)/2])
	waitWarned("PEM data in key input")
	if !bytes.Equal(served(), der(b)) {
		t.Fatal("a half-written key replaced the certificate served")
	}
	time.Sleep(5 * time.Second) // looked at again, tried again: not logged again
	if n := warned("PEM data in key input"); n != 1 {
		t.Fatalf("the same broken pair logged %d times\n%s", n, s.stderr.String())
	}
	install(read(a.certFile), bKey)
	waitWarned("private key does not match public key")
	if !bytes.Equal(served(), der(b)) {
		t.Fatal("a mismatched key replaced the certificate served")
	}
	for _, key := range [][]byte{read(a.keyFile), bKey} {
		body := strings.Split(string(key), "\n")[1] // the first line of the key's base64
		if strings.Contains(s.stderr.String(), body[:20]) || strings.Contains(s.stderr.String(), "PRIVATE KEY") {
			t.Fatalf("a key reached serve's log:\n%s", s.stderr.String())
		}
	}
	// Fixed in place, the file's size and modification time as they were (a clock a second
	// coarse; a chmod): nothing a stat sees changed, the pair is tried again and taken.
	before, _ := os.Stat(keyFile)
	if len(read(a.keyFile)) != int(before.Size()) {
		t.Fatalf("the two keys differ in size: %d, %d", len(read(a.keyFile)), before.Size())
	}
	os.WriteFile(keyFile, read(a.keyFile), 0o600)
	os.Chtimes(keyFile, before.ModTime(), before.ModTime())
	waitFor(a, "a good pair after broken ones")
}

// A pair rotated in place to another certificate with each file's size and modification time
// kept (`cp -p`, or a rewrite within the file system's clock step) is served to new
// connections: the files' content is compared, not what a stat sees.
func TestServePicksUpACertificateRotatedKeepingSizeAndTime(t *testing.T) {
	dir := t.TempDir()
	a, b := newTestCA(t, t.TempDir()), newTestCA(t, t.TempDir())
	pool := x509.NewCertPool()
	read := func(file string) []byte { b, _ := os.ReadFile(file); return b }
	for _, ca := range []testCA{a, b} {
		pool.AppendCertsFromPEM(read(ca.caFile))
	}
	aCert, bCert := samePEMSize(read(a.certFile), read(b.certFile))
	aKey, bKey := samePEMSize(read(a.keyFile), read(b.keyFile))
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, aCert, 0o600)
	os.WriteFile(keyFile, aKey, 0o600)
	os.WriteFile(filepath.Join(dir, "es-pass"), []byte("pw"), 0o600)
	os.WriteFile(filepath.Join(dir, "imsfeed.yaml"), []byte(liveConfig(dir, fmt.Sprintf(`http:
  listen: "127.0.0.1:0"
  tls: {cert_file: %s, key_file: %s}`, certFile, keyFile))), 0o600)
	s := startServe(t, dir)
	served := func() []byte {
		t.Helper()
		conn, err := tls.Dial("tcp", strings.TrimPrefix(s.url, "https://"), &tls.Config{RootCAs: pool})
		if err != nil {
			t.Fatalf("a new connection: %v\n%s", err, s.stderr.String())
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].Raw
	}
	if !bytes.Equal(served(), parseCert(t, a.certFile).Raw) {
		t.Fatal("serve does not serve the certificate of its files")
	}
	// Rotated in place (the same files, truncated and written), each file's time set back.
	for file, content := range map[string][]byte{certFile: bCert, keyFile: bKey} {
		before, err := os.Stat(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, content, 0o600); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(file, before.ModTime(), before.ModTime())
		if after, _ := os.Stat(file); !os.SameFile(before, after) || after.Size() != before.Size() || !after.ModTime().Equal(before.ModTime()) {
			t.Fatalf("%s: rotated as another file or with another size or time", file)
		}
	}
	want := parseCert(t, b.certFile).Raw
	for deadline := time.Now().Add(3*certCheck + time.Second); !bytes.Equal(served(), want); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("new connections still get the certificate before %s after the rotation\n%s", 3*certCheck+time.Second, s.stderr.String())
		}
	}
	if !regexp.MustCompile(`level=INFO msg="http.tls: the certificate files changed; new connections get the new certificate".*not_after=`).MatchString(s.stderr.String()) {
		t.Errorf("serve's log does not say the rotated certificate is served:\n%s", s.stderr.String())
	}
}

// parseCert is the certificate of a PEM file.
func parseCert(t *testing.T, file string) *x509.Certificate {
	t.Helper()
	b, _ := os.ReadFile(file)
	p, _ := pem.Decode(b)
	if p == nil {
		t.Fatalf("%s holds no PEM block", file)
	}
	c, err := x509.ParseCertificate(p.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// samePEMSize pads the shorter of two PEM files with text before its block (which PEM readers
// skip), so both have one size: ECDSA signatures differ in length by a byte or two.
func samePEMSize(a, b []byte) ([]byte, []byte) {
	pad := func(p []byte, n int) []byte {
		if n <= 0 {
			return p
		}
		return append(append(bytes.Repeat([]byte{'#'}, n-1), '\n'), p...)
	}
	return pad(a, len(b)-len(a)), pad(b, len(a)-len(b))
}

// BenchmarkCertFilesLook is one look at http.tls's files, unchanged (serve looks every
// certCheck). Comparing the files' size and modification time took 4.5-5.0 us; reading and
// hashing their content 19.7-22.3 us (an ECDSA P-256 pair, load 2).
func BenchmarkCertFilesLook(b *testing.B) {
	ca := newTestCA(b, b.TempDir())
	c, err := loadCertFiles(ca.certFile, ca.keyFile, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	c.close() // no looks but the benchmark's
	for b.Loop() {
		c.look()
	}
}
