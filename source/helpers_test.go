package source

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imsfeed/imsfeed/source/sftptest"
	"golang.org/x/crypto/ssh"
)

// testKey is a client key pair with its private key file.
type testKey struct {
	signer ssh.Signer
	file   string
	pem    []byte
}

// newKey writes a fresh ed25519 private key (encrypted when passphrase is set) to dir.
func newKey(t *testing.T, dir, passphrase string) testKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var block *pem.Block
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, "test")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "test", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	k := testKey{signer: signer, pem: pem.EncodeToMemory(block)}
	k.file = filepath.Join(dir, fmt.Sprintf("id_%d", time.Now().UnixNano()))
	if err := os.WriteFile(k.file, k.pem, 0o600); err != nil {
		t.Fatal(err)
	}
	return k
}

// sftpEnv is a running server with a client key and known_hosts that trust each other.
type sftpEnv struct {
	root       string // served folder
	srv        *sftptest.Server
	key        testKey
	knownHosts string
	password   string
}

func startSFTP(t *testing.T, opts sftptest.Options) *sftpEnv {
	t.Helper()
	dir := t.TempDir()
	e := &sftpEnv{root: filepath.Join(dir, "root"), password: "s3cret-Pw-" + hex.EncodeToString(randBytes(t, 6))}
	if err := os.Mkdir(e.root, 0o755); err != nil {
		t.Fatal(err)
	}
	e.key = newKey(t, dir, "")
	opts.Root = e.root
	if opts.AuthorizedKey == nil {
		opts.AuthorizedKey = e.key.signer.PublicKey()
	}
	if opts.Password == "" {
		opts.Password = e.password
	}
	opts.User = "sis"
	srv, err := sftptest.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	e.srv = srv
	e.knownHosts = filepath.Join(dir, "known_hosts")
	writeFile(t, e.knownHosts, srv.KnownHostsLine()+"\n")
	return e
}

// config is a Config for the folder dir (slash path under the root) using key auth.
func (e *sftpEnv) config(dir string) Config {
	return Config{
		URL:        fmt.Sprintf("sftp://sis@127.0.0.1:%d/%s", e.srv.Port(), strings.TrimPrefix(dir, "/")),
		KnownHosts: e.knownHosts,
		KeyFile:    e.key.file,
		SettleTime: -1,
	}
}

// kind is one way to reach a folder: the same tests run against each.
type kind struct {
	name string
	// setup returns the local folder files are placed in and a Config reading it.
	setup func(t *testing.T) (folder string, c Config)
}

var kinds = []kind{
	{"sftp absolute path", func(t *testing.T) (string, Config) {
		e := startSFTP(t, sftptest.Options{})
		mkdir(t, filepath.Join(e.root, "srv", "outgoing"))
		return filepath.Join(e.root, "srv", "outgoing"), e.config("/srv/outgoing")
	}},
	{"sftp home path", func(t *testing.T) (string, Config) {
		e := startSFTP(t, sftptest.Options{})
		mkdir(t, filepath.Join(e.root, "outgoing"))
		return filepath.Join(e.root, "outgoing"), e.config("/~/outgoing")
	}},
	{"file url", func(t *testing.T) (string, Config) {
		dir := t.TempDir()
		return dir, Config{URL: "file://" + filepath.ToSlash(dir), SettleTime: -1}
	}},
	{"plain path", func(t *testing.T) (string, Config) {
		dir := t.TempDir()
		return dir, Config{URL: dir, SettleTime: -1}
	}},
}

func open(t *testing.T, c Config, s Secrets) Source {
	t.Helper()
	src, err := Open(context.Background(), c, s, testLogger(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = src.Close() })
	return src
}

// testLogger logs to the test at debug level.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// syncBuffer collects log output from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// writeAt writes a file with the given modification time.
func writeAt(t *testing.T, p, content string, mod time.Time) {
	t.Helper()
	writeFile(t, p, content)
	if err := os.Chtimes(p, mod, mod); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mkdir(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

func randBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// spoolEntries lists what is in the spool, temporary files included.
func spoolEntries(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
