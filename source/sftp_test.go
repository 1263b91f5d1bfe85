package source

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imsfeed/imsfeed/source/sftptest"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func otherHostKey(t *testing.T) ssh.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestHostKeyChanged(t *testing.T) {
	t.Parallel()
	e := startSFTP(t, sftptest.Options{})
	old := otherHostKey(t)
	writeFile(t, e.knownHosts, knownhosts.Line([]string{e.srv.Addr()}, old)+"\n")
	_, err := Open(context.Background(), e.config("/"), Secrets{}, nil)
	if !errors.Is(err, ErrHostKey) {
		t.Fatalf("Open with a changed host key: error = %v, want ErrHostKey", err)
	}
	t.Log(err)
	for _, want := range []string{"host key", "CHANGED", ssh.FingerprintSHA256(e.srv.HostKey()), ssh.FingerprintSHA256(old), e.knownHosts + ":1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestHostKeyUnknown(t *testing.T) {
	t.Parallel()
	for name, content := range map[string]string{
		"empty known_hosts":     "",
		"only another host":     knownhosts.Line([]string{"files.example.org"}, otherHostKey(t)) + "\n",
		"same host, other port": knownhosts.Line([]string{"127.0.0.1:1"}, otherHostKey(t)) + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := startSFTP(t, sftptest.Options{})
			writeFile(t, e.knownHosts, content)
			_, err := Open(context.Background(), e.config("/"), Secrets{}, nil)
			if !errors.Is(err, ErrHostKey) {
				t.Fatalf("Open of an unknown host: error = %v, want ErrHostKey", err)
			}
			t.Log(err)
			for _, want := range []string{"host key", "unknown", ssh.FingerprintSHA256(e.srv.HostKey()), "ssh-keyscan"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestMissingKnownHostsFile(t *testing.T) {
	t.Parallel()
	e := startSFTP(t, sftptest.Options{})
	c := e.config("/")
	c.KnownHosts = filepath.Join(t.TempDir(), "nope")
	if _, err := Open(context.Background(), c, Secrets{}, nil); err == nil || !strings.Contains(err.Error(), "known_hosts") {
		t.Fatalf("Open without a known_hosts file: error = %v", err)
	}
}

func TestWrongKey(t *testing.T) {
	t.Parallel()
	e := startSFTP(t, sftptest.Options{})
	c := e.config("/")
	c.KeyFile = newKey(t, t.TempDir(), "").file
	_, err := Open(context.Background(), c, Secrets{}, nil)
	if err == nil || !strings.Contains(err.Error(), "refused the credentials") || !strings.Contains(err.Error(), `"sis"`) {
		t.Fatalf("Open with an unauthorised key: error = %v, want the login refused", err)
	}
	t.Log(err)
}

func TestPassword(t *testing.T) {
	t.Parallel()
	e := startSFTP(t, sftptest.Options{})
	writeFile(t, filepath.Join(e.root, "export.xml"), "x")
	c := e.config("/")
	c.KeyFile = ""
	if _, err := open(t, c, Secrets{Password: e.password}).Fetch(context.Background(), t.TempDir()); err != nil {
		t.Fatalf("Fetch with password auth: %v", err)
	}
	_, err := Open(context.Background(), c, Secrets{Password: "wrong-" + e.password}, nil)
	if err == nil || !strings.Contains(err.Error(), "refused the credentials") {
		t.Fatalf("Open with a wrong password: error = %v, want the login refused", err)
	}
	_, err = Open(context.Background(), c, Secrets{}, nil)
	if err == nil || !strings.Contains(err.Error(), "no credentials") {
		t.Fatalf("Open without key or password: error = %v", err)
	}
}

func TestKeyFormats(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaFile := filepath.Join(dir, "id_rsa")
	writeFile(t, rsaFile, string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})))
	rsaPub, err := ssh.NewPublicKey(&rsaKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	enc := newKey(t, dir, "correct horse")

	tests := []struct {
		name       string
		authorized ssh.PublicKey
		file       string
		passphrase string
		wantErr    string
	}{
		{"rsa pem", rsaPub, rsaFile, "", ""},
		{"encrypted ed25519", enc.signer.PublicKey(), enc.file, "correct horse", ""},
		{"no passphrase", enc.signer.PublicKey(), enc.file, "", "is encrypted"},
		{"wrong passphrase", enc.signer.PublicKey(), enc.file, "battery staple", "wrong passphrase"},
		{"not a key", rsaPub, e2file(t, dir), "", "not a private key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := startSFTP(t, sftptest.Options{AuthorizedKey: tt.authorized})
			c := e.config("/")
			c.KeyFile = tt.file
			src, err := Open(context.Background(), c, Secrets{Passphrase: tt.passphrase}, nil)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				_ = src.Close()
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Open error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func e2file(t *testing.T, dir string) string {
	p := filepath.Join(dir, "not-a-key")
	writeFile(t, p, "-----BEGIN NONSENSE-----\nAAAA\n-----END NONSENSE-----\n")
	return p
}

func TestServerGone(t *testing.T) {
	t.Parallel()
	e := startSFTP(t, sftptest.Options{})
	c := e.config("/srv")
	_ = e.srv.Close()
	_, err := Open(context.Background(), c, Secrets{}, nil)
	if err == nil || !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), fmt.Sprintf("sftp://sis@127.0.0.1:%d/srv", e.srv.Port())) {
		t.Fatalf("Open of a stopped server: error = %v, want connection refused naming the url", err)
	}
	t.Log(err)
}

// A server that accepts the connection but never speaks SSH.
func TestConnectTimeout(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	c := Config{URL: "sftp://sis@" + ln.Addr().String() + "/in", KnownHosts: filepath.Join(t.TempDir(), "kh"), KeyFile: newKey(t, t.TempDir(), "").file, ConnectTimeout: 300 * time.Millisecond}
	writeFile(t, c.KnownHosts, "")
	start := time.Now()
	_, err = Open(context.Background(), c, Secrets{}, nil)
	if err == nil || !strings.Contains(err.Error(), "connect_timeout") {
		t.Fatalf("Open of a silent server: error = %v, want a connect_timeout error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Open gave up after %s, want about the 300ms connect_timeout", d)
	}
}

func bigFile(t *testing.T, p string, n int) []byte {
	t.Helper()
	b := bytes.Repeat([]byte("<person><sourcedid><id>P1</id></sourcedid></person>\n"), n/52+1)[:n]
	writeFile(t, p, string(b))
	return b
}

func TestCutMidTransfer(t *testing.T) {
	t.Parallel()
	const size = 4 << 20
	for _, cut := range []int64{1, 256 << 10, size - 1} {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			t.Parallel()
			e := startSFTP(t, sftptest.Options{CutAfterBytes: cut})
			bigFile(t, filepath.Join(e.root, "export.xml"), size)
			spool := filepath.Join(t.TempDir(), "spool")
			src := open(t, e.config("/"), Secrets{})
			f, err := src.Fetch(context.Background(), spool)
			if err == nil {
				t.Fatalf("Fetch over a connection cut after %d of %d bytes succeeded: %+v", cut, size, f)
			}
			t.Log(err)
			if !strings.Contains(err.Error(), "export.xml") {
				t.Errorf("error %q does not name the file", err)
			}
			if e := spoolEntries(t, spool); len(e) != 0 {
				t.Errorf("spool holds %v after a cut transfer, want nothing", e)
			}
		})
	}
}

func TestStalledTransfer(t *testing.T) {
	t.Parallel()
	e := startSFTP(t, sftptest.Options{StallAfterBytes: 64 << 10})
	bigFile(t, filepath.Join(e.root, "export.xml"), 1<<20)
	c := e.config("/")
	c.ReadTimeout = 500 * time.Millisecond
	spool := filepath.Join(t.TempDir(), "spool")
	src := open(t, c, Secrets{})
	start := time.Now()
	_, err := src.Fetch(context.Background(), spool)
	if err == nil || !strings.Contains(err.Error(), "no progress for 500ms") {
		t.Fatalf("Fetch of a stalled transfer: error = %v, want a read_timeout error", err)
	}
	t.Log(err)
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("stalled Fetch took %s to fail, want about the 500ms read_timeout", d)
	}
	if e := spoolEntries(t, spool); len(e) != 0 {
		t.Errorf("spool holds %v after a stalled transfer, want nothing", e)
	}
}

// The connection may drop while the file is imported; Done reconnects.
func TestDoneAfterConnectionLost(t *testing.T) {
	t.Parallel()
	e := startSFTP(t, sftptest.Options{})
	writeFile(t, filepath.Join(e.root, "export.xml"), "x")
	c := e.config("/")
	c.After = AfterDelete
	src := open(t, c, Secrets{})
	f, err := src.Fetch(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e.srv.DropConnections()
	time.Sleep(100 * time.Millisecond) // let the client notice
	if err := src.Done(context.Background(), f); err != nil {
		t.Fatalf("Done after the connection dropped: %v", err)
	}
	if exists(filepath.Join(e.root, "export.xml")) {
		t.Error("export.xml not deleted")
	}
}

// No error, log line or formatted Secrets shows a password, a passphrase or key material.
func TestSecretsNeverShown(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const passphrase = "pass-PHRASE-4711"
	key := newKey(t, dir, passphrase)
	e := startSFTP(t, sftptest.Options{AuthorizedKey: key.signer.PublicKey()})
	writeFile(t, filepath.Join(e.root, "export.xml"), "x")

	var logs syncBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var out []string
	try := func(c Config, s Secrets) {
		logger.Info("opening", "secrets", s, "config", c)
		out = append(out, fmt.Sprintf("%v %+v %#v %s", s, s, s, s))
		src, err := Open(context.Background(), c, s, logger)
		if err != nil {
			out = append(out, err.Error(), fmt.Sprintf("%+v", err))
			return
		}
		defer src.Close()
		f, err := src.Fetch(context.Background(), t.TempDir())
		if err != nil {
			t.Errorf("Fetch: %v", err)
			return
		}
		out = append(out, fmt.Sprintf("%+v", f))
	}
	c := e.config("/")
	c.KeyFile = key.file
	try(c, Secrets{Passphrase: passphrase})                       // works
	try(c, Secrets{Passphrase: passphrase + "x"})                 // wrong passphrase
	try(c, Secrets{Passphrase: passphrase, Password: e.password}) // works, key first
	c.KeyFile = ""
	try(c, Secrets{Password: e.password})                            // works
	try(c, Secrets{Password: e.password + "x"})                      // wrong password
	c.URL = strings.Replace(c.URL, "sis@", "sis:"+e.password+"@", 1) // password in the url
	try(c, Secrets{})
	out = append(out, logs.String())

	all := strings.Join(out, "\n")
	secrets := []string{passphrase, e.password, string(key.pem)}
	for _, line := range strings.Split(string(key.pem), "\n") {
		if len(line) > 20 && !strings.HasPrefix(line, "-----") {
			secrets = append(secrets, line) // each line of the key's body
		}
	}
	for _, s := range secrets {
		if strings.Contains(all, s) {
			t.Errorf("output shows a secret (%.12s…):\n%s", s, all)
		}
	}
	if !strings.Contains(all, "fetched") || !strings.Contains(all, "refused the credentials") || !strings.Contains(all, "wrong passphrase") {
		t.Errorf("the scenarios did not all run as meant:\n%s", all)
	}
	if _, err := os.Stat(key.file); err != nil {
		t.Fatal(err)
	}
}
