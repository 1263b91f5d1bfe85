package source

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/imsfeed/imsfeed/source/sftptest"
)

// BenchmarkFetch measures a 32 MiB download over the in-process server into the spool
// (hash, fsync and rename included).
func BenchmarkFetch(b *testing.B) {
	dir := b.TempDir()
	root := filepath.Join(dir, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		b.Fatal(err)
	}
	const size = 32 << 20
	if err := os.WriteFile(filepath.Join(root, "export.xml"), make([]byte, size), 0o644); err != nil {
		b.Fatal(err)
	}
	srv, err := sftptest.Start(sftptest.Options{Root: root, Password: "pw"})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	kh := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(kh, []byte(srv.KnownHostsLine()+"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	c := Config{URL: "sftp://u@" + srv.Addr() + "/", KnownHosts: kh, SettleTime: -1}
	src, err := Open(context.Background(), c, Secrets{Password: "pw"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	spool := b.TempDir()
	b.SetBytes(size)
	for b.Loop() {
		if _, err := src.Fetch(context.Background(), spool); err != nil {
			b.Fatal(err)
		}
	}
}
