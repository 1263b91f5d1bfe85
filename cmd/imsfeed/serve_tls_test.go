package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
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
