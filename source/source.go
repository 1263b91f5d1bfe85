package source

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Secrets are the credentials a Source needs, read by the caller from the files named in
// Config or from the environment. They never appear in errors or logs, and format as
// "[redacted]".
type Secrets struct {
	Passphrase string // for an encrypted key_file
	Password   string // for password authentication
}

// String keeps Secrets out of logs and error messages.
func (Secrets) String() string { return "[redacted]" }

// GoString keeps Secrets out of %#v.
func (Secrets) GoString() string { return "source.Secrets{[redacted]}" }

// LogValue keeps Secrets out of slog output.
func (Secrets) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// File is a file fetched into the spool.
type File struct {
	Name    string    // the file's name in the source folder
	Path    string    // where it is in the spool
	Size    int64     // bytes
	SHA256  string    // hex SHA-256 of the content
	ModTime time.Time // modification time in the source folder
}

// Source is one tenant's folder of export files.
type Source interface {
	// Fetch downloads the newest matching, settled file into spoolDir atomically (temporary
	// name, fsync, rename) and returns it with its SHA-256. It returns an error wrapping
	// ErrNoFile when nothing matches (and also ErrNotSettled when the newest file is still
	// being written). On any error the spool holds no partial file.
	Fetch(ctx context.Context, spoolDir string) (*File, error)
	// Waited is how long the last Fetch waited for its file to settle (0: it was taken at once,
	// or settle is off), also when it then failed.
	Waited() time.Duration
	// Done does the configured after-action (leave, move or delete) for a fetched file that
	// was imported, with its marker file if any. If the remote file changed since Fetch, it
	// is left in place and the error wraps ErrChanged.
	Done(ctx context.Context, f *File) error
	// Close ends the connection, if any.
	Close() error
}

// Open validates c and opens the source its URL names: for sftp it connects, verifies the
// host key and logs in, so configuration and credential problems show up here. A nil logger
// discards.
func Open(ctx context.Context, c Config, s Secrets, logger *slog.Logger) (Source, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	loc, err := parseURL(c.URL)
	if err != nil {
		return nil, fmt.Errorf("url: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c = c.withDefaults()
	logger = logger.With("source", loc.String())
	var f folder
	switch loc.scheme {
	case "sftp":
		f, err = dialSFTP(ctx, c, loc, s, logger)
	default:
		f, err = openLocal(loc)
	}
	if err != nil {
		return nil, err
	}
	return &source{cfg: c, loc: loc, f: f, log: logger}, nil
}
