// Package sftptest runs an in-process SSH/SFTP server on 127.0.0.1 that serves one folder,
// for tests and for `imsfeed demo`. It can cut or stall transfers to simulate a bad network.
//
// The server is chroot-like: the client's "/" and its home ("~", relative paths) are Root, so
// sftp://u@127.0.0.1:PORT/incoming reads Root/incoming. Access goes through os.Root, so
// symbolic links cannot lead outside Root either.
package sftptest

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Options configure a Server. At least one of AuthorizedKey and Password must be set.
type Options struct {
	Root          string        // folder served as "/" and as the home; required
	User          string        // login name accepted; "" accepts any
	AuthorizedKey ssh.PublicKey // public key accepted for key authentication, or nil
	Password      string        // password accepted for password authentication, or ""
	HostKey       ssh.Signer    // nil: a fresh ed25519 key

	// CutAfterBytes > 0 drops the connection once that many bytes of file content have been
	// sent on it, as a network failure mid-transfer would.
	CutAfterBytes int64
	// StallAfterBytes > 0 stops sending file content after that many bytes on a connection:
	// the transfer hangs (the connection stays open) until the client gives up or the server
	// closes.
	StallAfterBytes int64

	// ReadOnly refuses every change (uploads, renames, removals, new folders) with "permission
	// denied", as an account with read access only would get.
	ReadOnly bool
	// ClockOffset is how far the server's clock runs ahead of this machine's (negative:
	// behind). Every modification time the server reports is shifted by it, and every one a
	// client sets is taken as the server's time, so the files look as they would on a server
	// with that clock.
	ClockOffset time.Duration
}

// Server is a running SFTP server. Close stops it.
type Server struct {
	opts    Options
	ln      net.Listener
	conf    *ssh.ServerConfig
	hostKey ssh.PublicKey
	done    chan struct{}
	wg      sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// Start starts a server on 127.0.0.1 on a free port.
func Start(opts Options) (*Server, error) {
	if opts.Root == "" {
		return nil, errors.New("sftptest: Options.Root is required")
	}
	if fi, err := os.Stat(opts.Root); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("sftptest: root %q is not a folder", opts.Root)
	}
	if opts.AuthorizedKey == nil && opts.Password == "" {
		return nil, errors.New("sftptest: set AuthorizedKey or Password")
	}
	signer := opts.HostKey
	if signer == nil {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("sftptest: host key: %w", err)
		}
		if signer, err = ssh.NewSignerFromKey(priv); err != nil {
			return nil, fmt.Errorf("sftptest: host key: %w", err)
		}
	}
	s := &Server{opts: opts, hostKey: signer.PublicKey(), done: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	s.conf = &ssh.ServerConfig{}
	s.conf.AddHostKey(signer)
	if opts.AuthorizedKey != nil {
		want := opts.AuthorizedKey.Marshal()
		s.conf.PublicKeyCallback = func(c ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if s.userOK(c) && subtle.ConstantTimeCompare(key.Marshal(), want) == 1 {
				return nil, nil
			}
			return nil, errors.New("key not authorised")
		}
	}
	if opts.Password != "" {
		s.conf.PasswordCallback = func(c ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			if s.userOK(c) && subtle.ConstantTimeCompare(pw, []byte(opts.Password)) == 1 {
				return nil, nil
			}
			return nil, errors.New("wrong password")
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("sftptest: %w", err)
	}
	s.ln = ln
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

func (s *Server) userOK(c ssh.ConnMetadata) bool {
	return s.opts.User == "" || c.User() == s.opts.User
}

// Addr is the server's address, 127.0.0.1:PORT.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Port is the server's port.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// HostKey is the server's public host key.
func (s *Server) HostKey() ssh.PublicKey { return s.hostKey }

// KnownHostsLine is the server's line for an OpenSSH known_hosts file
// ("[127.0.0.1]:PORT ssh-ed25519 AAAA…").
func (s *Server) KnownHostsLine() string {
	return knownhosts.Line([]string{s.Addr()}, s.hostKey)
}

// Close stops the server, drops every connection and waits for them to end.
func (s *Server) Close() error {
	select {
	case <-s.done:
		return nil
	default:
	}
	close(s.done)
	err := s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

// DropConnections cuts every open connection, as a server restart or a network failure
// would; the server keeps accepting new ones.
func (s *Server) DropConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		_ = c.Close()
	}
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return // closed
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveConn(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			_ = c.Close()
		}()
	}
}

// conn is one client connection's state: the fault counters are per connection.
type conn struct {
	s      *Server
	nc     net.Conn
	sent   atomic.Int64
	closed chan struct{} // the connection ended: stalled reads give up
}

func (s *Server) serveConn(nc net.Conn) {
	sc, chans, reqs, err := ssh.NewServerConn(nc, s.conf)
	if err != nil {
		return // handshake or authentication failed; the client sees why
	}
	c := &conn{s: s, nc: nc, closed: make(chan struct{})}
	var wg sync.WaitGroup
	defer func() {
		_ = sc.Close()
		close(c.closed)
		wg.Wait()
	}()
	go ssh.DiscardRequests(reqs)
	for nch := range chans {
		if nch.ChannelType() != "session" {
			_ = nch.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, creqs, err := nch.Accept()
		if err != nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.session(ch, creqs)
		}()
	}
}

// session serves the "sftp" subsystem and refuses everything else (no shell, no exec).
func (c *conn) session(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	for req := range reqs {
		ok := req.Type == "subsystem" && len(req.Payload) > 4 && string(req.Payload[4:]) == "sftp"
		_ = req.Reply(ok, nil)
		if !ok {
			continue
		}
		go ssh.DiscardRequests(reqs)
		root, err := os.OpenRoot(c.s.opts.Root)
		if err != nil {
			return
		}
		defer root.Close()
		h := &handler{c: c, root: root}
		srv := sftp.NewRequestServer(ch, sftp.Handlers{FileGet: h, FilePut: h, FileCmd: h, FileList: h})
		_ = srv.Serve()
		_ = srv.Close()
		return
	}
}

// faultyReader applies the connection's CutAfterBytes and StallAfterBytes to file content.
type faultyReader struct {
	c *conn
	f *os.File
}

func (r *faultyReader) ReadAt(p []byte, off int64) (int, error) {
	o := r.c.s.opts
	if o.StallAfterBytes > 0 && r.c.sent.Load()+int64(len(p)) > o.StallAfterBytes {
		if allowed := o.StallAfterBytes - r.c.sent.Load(); allowed > 0 {
			p = p[:allowed]
		} else {
			select { // hang like a stuck network until the connection or server ends
			case <-r.c.closed:
			case <-r.c.s.done:
			}
			return 0, io.ErrUnexpectedEOF
		}
	}
	n, err := r.f.ReadAt(p, off)
	total := r.c.sent.Add(int64(n))
	if o.CutAfterBytes > 0 && total >= o.CutAfterBytes {
		_ = r.c.nc.Close() // the bytes up to here may or may not reach the client
		return 0, io.ErrUnexpectedEOF
	}
	return n, err
}

func (r *faultyReader) Close() error { return r.f.Close() }
