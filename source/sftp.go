package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// sftpFolder is a folder on an SFTP server. It is not safe for concurrent use.
type sftpFolder struct {
	cfg  Config
	loc  location
	log  *slog.Logger
	conf *ssh.ClientConfig

	conn net.Conn
	ssh  *ssh.Client
	c    *sftp.Client
	dead *atomic.Bool // this connection ended; ready redials
}

func dialSFTP(ctx context.Context, c Config, loc location, s Secrets, log *slog.Logger) (*sftpFolder, error) {
	conf, err := clientConfig(c, loc, s)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", loc, err)
	}
	f := &sftpFolder{cfg: c, loc: loc, log: log, conf: conf}
	if err := f.dial(ctx); err != nil {
		return nil, fmt.Errorf("connect %s: %w", loc, err)
	}
	fi, err := f.stat(ctx, ".")
	if err == nil && !fi.IsDir() {
		err = errors.New("not a folder")
	}
	if err != nil {
		_ = f.close()
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("open %s: source folder does not exist on the server", loc)
		}
		return nil, fmt.Errorf("open %s: source folder: %w", loc, err)
	}
	return f, nil
}

// clientConfig builds the SSH client configuration: host key check and authentication.
func clientConfig(c Config, loc location, s Secrets) (*ssh.ClientConfig, error) {
	known, err := knownhosts.New(c.KnownHosts)
	if err != nil {
		return nil, fmt.Errorf("known_hosts: %w", err)
	}
	conf := &ssh.ClientConfig{
		User:            loc.user,
		HostKeyCallback: checkHostKey(known, c.KnownHosts, loc),
		// Ask for the key types known_hosts has for this host, or a server with several host
		// keys may show one we do not know while the one we know is fine.
		HostKeyAlgorithms: knownAlgorithms(known, loc.addr()),
		Timeout:           c.ConnectTimeout,
	}
	if c.KeyFile != "" {
		signer, err := readKey(c.KeyFile, s.Passphrase)
		if err != nil {
			return nil, err
		}
		conf.Auth = append(conf.Auth, ssh.PublicKeys(signer))
	}
	if s.Password != "" {
		pw := s.Password
		conf.Auth = append(conf.Auth, ssh.Password(pw),
			ssh.KeyboardInteractive(func(_, _ string, questions []string, _ []bool) ([]string, error) {
				answers := make([]string, len(questions))
				for i := range answers {
					answers[i] = pw
				}
				return answers, nil
			}))
	}
	if len(conf.Auth) == 0 {
		return nil, errors.New("no credentials: set key_file, or a password (password_file or IMSFEED_<TENANT>_SFTP_PASSWORD)")
	}
	return conf, nil
}

// readKey reads a private key. Its errors never contain key material or the passphrase.
func readKey(file, passphrase string) (ssh.Signer, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("key_file: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(pem)
	var missing *ssh.PassphraseMissingError
	switch {
	case errors.As(err, &missing) && passphrase == "":
		return nil, fmt.Errorf("key_file %s is encrypted: give its passphrase in passphrase_file or IMSFEED_<TENANT>_SSH_PASSPHRASE", file)
	case errors.As(err, &missing):
		signer, err = ssh.ParsePrivateKeyWithPassphrase(pem, []byte(passphrase))
		if err != nil {
			return nil, fmt.Errorf("key_file %s: cannot decrypt it with the passphrase given (wrong passphrase?)", file)
		}
	case err != nil:
		return nil, fmt.Errorf("key_file %s: not a private key in OpenSSH or PEM format", file)
	}
	return signer, nil
}

// checkHostKey wraps the known_hosts check so a refusal says which key was offered (by its
// SHA256 fingerprint), what known_hosts expects, and what to do.
func checkHostKey(known ssh.HostKeyCallback, file string, loc location) ssh.HostKeyCallback {
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := known(hostname, remote, key)
		if err == nil {
			return nil
		}
		offered := key.Type() + " " + ssh.FingerprintSHA256(key)
		host := knownhosts.Normalize(loc.addr())
		var keyErr *knownhosts.KeyError
		var revoked *knownhosts.RevokedError
		switch {
		case errors.As(err, &keyErr) && len(keyErr.Want) == 0:
			return fmt.Errorf("%w: host key of %s is unknown: the server offers %s, which is not in known_hosts %s. "+
				"Check that fingerprint with the server's administrator, then add the server's line there (ssh-keyscan -p %s %s prints it)",
				ErrHostKey, host, offered, file, portOf(loc), loc.host)
		case errors.As(err, &keyErr):
			var want []string
			for _, k := range keyErr.Want {
				want = append(want, fmt.Sprintf("%s %s (%s:%d)", k.Key.Type(), ssh.FingerprintSHA256(k.Key), k.Filename, k.Line))
			}
			return fmt.Errorf("%w: host key of %s has CHANGED: the server offers %s, known_hosts expects %s. "+
				"This may be an attack; do not connect until the server's administrator confirms a new key, then replace that line",
				ErrHostKey, host, offered, strings.Join(want, ", "))
		case errors.As(err, &revoked):
			return fmt.Errorf("%w: host key of %s (%s) is marked @revoked in %s:%d", ErrHostKey, host, offered, revoked.Revoked.Filename, revoked.Revoked.Line)
		}
		return fmt.Errorf("%w: %s: %v", ErrHostKey, host, err)
	}
}

func portOf(loc location) string {
	if loc.port == "" {
		return "22"
	}
	return loc.port
}

// probeKey is never a real host key: checking it makes known_hosts list the host's keys.
type probeKey struct{}

func (probeKey) Type() string                        { return "imsfeed-probe" }
func (probeKey) Marshal() []byte                     { return []byte("imsfeed-probe") }
func (probeKey) Verify([]byte, *ssh.Signature) error { return errors.New("probe") }

// knownAlgorithms lists the host key algorithms known_hosts has for addr (nil: any).
func knownAlgorithms(known ssh.HostKeyCallback, addr string) []string {
	tcp := &net.TCPAddr{IP: net.IPv4zero}
	var keyErr *knownhosts.KeyError
	if !errors.As(known(addr, tcp, probeKey{}), &keyErr) {
		return nil
	}
	var algos []string
	for _, k := range keyErr.Want {
		switch t := k.Key.Type(); t {
		case ssh.KeyAlgoRSA:
			algos = append(algos, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA)
		default:
			algos = append(algos, t)
		}
	}
	return algos
}

// dial connects, checks the host key, logs in and starts the SFTP subsystem, all within
// ConnectTimeout.
func (f *sftpFolder) dial(ctx context.Context) error {
	d := net.Dialer{Timeout: f.cfg.ConnectTimeout}
	conn, err := d.DialContext(ctx, "tcp", f.loc.addr())
	if err != nil {
		return err
	}
	_ = conn.SetDeadline(time.Now().Add(f.cfg.ConnectTimeout))
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	sc, chans, reqs, err := ssh.NewClientConn(conn, f.loc.addr(), f.conf)
	if err != nil {
		_ = conn.Close()
		return f.explain(ctx, err)
	}
	client := ssh.NewClient(sc, chans, reqs)
	sf, err := sftp.NewClient(client)
	if err != nil {
		_ = client.Close()
		return fmt.Errorf("start sftp: %w", f.explain(ctx, err))
	}
	_ = conn.SetDeadline(time.Time{}) // from now on guard bounds each operation
	if !stop() {
		_ = sf.Close()
		_ = client.Close()
		return ctx.Err()
	}
	dead := new(atomic.Bool) // per connection: an old one ending must not mark a new one
	f.conn, f.ssh, f.c, f.dead = conn, client, sf, dead
	go func() {
		_ = client.Wait()
		dead.Store(true)
	}()
	f.log.Debug("connected", "server", string(sc.ServerVersion()))
	return nil
}

// explain turns handshake errors into messages a user can act on.
func (f *sftpFolder) explain(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, ErrHostKey) {
		if inner := errors.Unwrap(err); errors.Is(inner, ErrHostKey) {
			return inner // without ssh's "handshake failed" prefix
		}
		return err
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("no answer within connect_timeout %s: %w", f.cfg.ConnectTimeout, err)
	}
	if strings.Contains(err.Error(), "unable to authenticate") {
		return fmt.Errorf("log in as %q: the server refused the credentials; check key_file or the password, and that the server authorises them (%w)", f.loc.user, err)
	}
	return err
}

func (f *sftpFolder) ready(ctx context.Context) error {
	if f.dead != nil && !f.dead.Load() {
		return nil
	}
	f.log.Info("connection lost, reconnecting")
	f.closeConn()
	if err := f.dial(ctx); err != nil {
		return fmt.Errorf("reconnect: %w", err)
	}
	return nil
}

// full maps a name relative to the source folder to the path the server expects. A home
// relative folder stays relative: the server resolves it against the login's home.
func (f *sftpFolder) full(name string) string {
	if path.IsAbs(name) {
		return path.Clean(name)
	}
	return path.Join(f.loc.dir, name)
}

// guard runs op and closes the connection when ctx ends or when op makes no progress for
// ReadTimeout; op calls progress whenever data moves.
func (f *sftpFolder) guard(ctx context.Context, op func(progress func()) error) error {
	var stalled atomic.Bool
	conn := f.conn
	t := time.AfterFunc(f.cfg.ReadTimeout, func() {
		stalled.Store(true)
		_ = conn.Close()
	})
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	err := op(func() { t.Reset(f.cfg.ReadTimeout) })
	t.Stop()
	stop()
	switch {
	case stalled.Load():
		f.dead.Store(true)
		return fmt.Errorf("no progress for %s (read_timeout); connection closed", f.cfg.ReadTimeout)
	case ctx.Err() != nil:
		f.dead.Store(true)
		return ctx.Err()
	case err != nil && f.dead.Load() && !strings.Contains(err.Error(), "connection lost"):
		return fmt.Errorf("connection lost: %w", err)
	}
	return err
}

func (f *sftpFolder) list(ctx context.Context) ([]fs.FileInfo, error) {
	var infos []fs.FileInfo
	err := f.guard(ctx, func(func()) error {
		all, err := f.c.ReadDir(f.full("."))
		if err != nil {
			return withPath("list", f.full("."), err)
		}
		for _, fi := range all {
			if fi.Mode()&fs.ModeSymlink != 0 {
				if fi, err = f.c.Stat(f.full(fi.Name())); err != nil {
					continue // a dangling link
				}
			}
			infos = append(infos, fi)
		}
		return nil
	})
	return infos, err
}

func (f *sftpFolder) clock(ctx context.Context) (now time.Time, err error) {
	err = f.guard(ctx, func(func()) error {
		p := f.full(probeName())
		w, err := f.c.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
		if err != nil {
			return fmt.Errorf("create a probe file: %w", withPath("create", p, err))
		}
		_ = w.Close()
		fi, err := f.c.Stat(p)
		if rerr := f.c.Remove(p); err == nil && rerr != nil {
			err = fmt.Errorf("remove the probe file: %w", withPath("remove", p, rerr))
		}
		if err != nil {
			return err
		}
		// A server that sends no times gives the zero Unix time: no clock to judge by.
		if fi.ModTime().Unix() <= 0 {
			return fmt.Errorf("the server gives no modification time for %s", p)
		}
		now = fi.ModTime()
		return nil
	})
	return now, err
}

func (f *sftpFolder) stat(ctx context.Context, name string) (fi fs.FileInfo, err error) {
	err = f.guard(ctx, func(func()) error {
		fi, err = f.c.Stat(f.full(name))
		return withPath("stat", f.full(name), err)
	})
	return fi, err
}

func (f *sftpFolder) copyTo(ctx context.Context, name string, w io.Writer) (n int64, err error) {
	err = f.guard(ctx, func(progress func()) error {
		r, err := f.c.Open(f.full(name))
		if err != nil {
			return withPath("open", f.full(name), err)
		}
		defer r.Close()
		n, err = io.Copy(progressWriter{w, progress}, r)
		return err
	})
	return n, err
}

type progressWriter struct {
	w        io.Writer
	progress func()
}

func (p progressWriter) Write(b []byte) (int, error) {
	p.progress()
	return p.w.Write(b)
}

func (f *sftpFolder) mkdirAll(ctx context.Context, dir string) error {
	return f.guard(ctx, func(func()) error { return withPath("mkdir", f.full(dir), f.c.MkdirAll(f.full(dir))) })
}

func (f *sftpFolder) rename(ctx context.Context, from, to string) error {
	return f.guard(ctx, func(func()) error {
		if _, ok := f.c.HasExtension("posix-rename@openssh.com"); ok {
			return withPath("rename", f.full(from), f.c.PosixRename(f.full(from), f.full(to)))
		}
		return withPath("rename", f.full(from), f.c.Rename(f.full(from), f.full(to)))
	})
}

func (f *sftpFolder) remove(ctx context.Context, name string) error {
	return f.guard(ctx, func(func()) error { return withPath("remove", f.full(name), f.c.Remove(f.full(name))) })
}

// withPath names the remote path in an error; pkg/sftp's often do not.
func withPath(op, p string, err error) error {
	var pe *fs.PathError
	if err == nil || errors.As(err, &pe) {
		return err
	}
	return &fs.PathError{Op: op, Path: p, Err: err}
}

func (f *sftpFolder) closeConn() {
	if f.c != nil {
		_ = f.c.Close()
	}
	if f.ssh != nil {
		_ = f.ssh.Close()
	}
	f.c, f.ssh, f.conn = nil, nil, nil
}

func (f *sftpFolder) close() error {
	f.closeConn()
	return nil
}
