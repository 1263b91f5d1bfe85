package sftptest

import (
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// dial logs in with a password, trusting only the server's known_hosts line.
func dial(t *testing.T, s *Server, password string) (*sftp.Client, error) {
	t.Helper()
	kh := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(kh, []byte(s.KnownHostsLine()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cb, err := knownhosts.New(kh)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := ssh.Dial("tcp", s.Addr(), &ssh.ClientConfig{User: "u", Auth: []ssh.AuthMethod{ssh.Password(password)}, HostKeyCallback: cb})
	if err != nil {
		return nil, err
	}
	c, err := sftp.NewClient(conn)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	t.Cleanup(func() { _ = c.Close(); _ = conn.Close() })
	return c, nil
}

func start(t *testing.T, opts Options) (*Server, string) {
	t.Helper()
	dir := t.TempDir()
	opts.Root = filepath.Join(dir, "root")
	if err := os.MkdirAll(filepath.Join(opts.Root, "incoming"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secret.txt"), []byte("outside the root"), 0o600); err != nil {
		t.Fatal(err)
	}
	opts.Password = "pw"
	s, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, opts.Root
}

func TestServesRootAsSlashAndHome(t *testing.T) {
	t.Parallel()
	s, root := start(t, Options{})
	if err := os.WriteFile(filepath.Join(root, "incoming", "a.xml"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := dial(t, s, "pw")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/incoming/a.xml", "incoming/a.xml", "/../incoming/a.xml"} {
		f, err := c.Open(p)
		if err != nil {
			t.Errorf("open %s: %v", p, err)
			continue
		}
		b, _ := io.ReadAll(f)
		_ = f.Close()
		if string(b) != "hello" {
			t.Errorf("%s holds %q, want ROOT/incoming/a.xml's hello", p, b)
		}
	}
	if wd, err := c.Getwd(); err != nil || wd != "/" {
		t.Errorf("home = %q, %v; want /", wd, err)
	}
	// Writes, renames and removes stay inside the root too.
	f, err := c.Create("/incoming/b.xml")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.Write([]byte("b"))
	_ = f.Close()
	if err := c.PosixRename("/incoming/b.xml", "/incoming/c.xml"); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(root, "incoming", "c.xml")); err != nil || string(b) != "b" {
		t.Errorf("ROOT/incoming/c.xml = %q, %v after create and rename", b, err)
	}
}

func TestCannotLeaveRoot(t *testing.T) {
	t.Parallel()
	s, root := start(t, Options{})
	if err := os.Symlink(filepath.Join(root, "..", "secret.txt"), filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	c, err := dial(t, s, "pw")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/../secret.txt", "../secret.txt", "/link"} {
		if f, err := c.Open(p); err == nil {
			b, _ := io.ReadAll(f)
			_ = f.Close()
			if strings.Contains(string(b), "outside") {
				t.Errorf("open %s read a file outside the root", p)
			}
		}
	}
}

func TestRefusesWrongPasswordAndKey(t *testing.T) {
	t.Parallel()
	s, _ := start(t, Options{})
	if _, err := dial(t, s, "nope"); err == nil {
		t.Error("login with a wrong password succeeded")
	}
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := ssh.NewSignerFromKey(priv)
	_, err := ssh.Dial("tcp", s.Addr(), &ssh.ClientConfig{User: "u", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)}, HostKeyCallback: ssh.FixedHostKey(s.HostKey())})
	if err == nil {
		t.Error("login with an unauthorised key succeeded")
	}
}

func TestCutAfterBytes(t *testing.T) {
	t.Parallel()
	s, root := start(t, Options{CutAfterBytes: 100 << 10})
	if err := os.WriteFile(filepath.Join(root, "big"), make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := dial(t, s, "pw")
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.Open("/big")
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, f)
	if err == nil || n >= 1<<20 {
		t.Errorf("read %d bytes, err %v; want the connection cut after about 100 KiB", n, err)
	}
}

func TestCloseEndsStalledTransfer(t *testing.T) {
	t.Parallel()
	s, root := start(t, Options{StallAfterBytes: 10})
	if err := os.WriteFile(filepath.Join(root, "big"), make([]byte, 1<<16), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := dial(t, s, "pw")
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.Open("/big")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, f)
		done <- err
	}()
	_ = s.Close() // must not hang on the stalled read
	if err := <-done; err == nil {
		t.Error("a stalled read ended without error when the server closed")
	}
}

func TestStartChecksOptions(t *testing.T) {
	t.Parallel()
	if _, err := Start(Options{Password: "x"}); err == nil {
		t.Error("Start without Root succeeded")
	}
	if _, err := Start(Options{Root: t.TempDir()}); err == nil {
		t.Error("Start without any way to log in succeeded")
	}
}
