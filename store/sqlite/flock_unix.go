//go:build unix

package sqlite

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/imsfeed/imsfeed/store"
)

// lockFile takes an exclusive flock on the tenant's lock file in <db>.locks/, polling until
// deadline. flock locks belong to the open file, so two openers conflict even in one process,
// and the kernel drops the lock when a process dies.
func lockFile(ctx context.Context, dbPath, tenant string, deadline time.Time) (func(), error) {
	dir := dbPath + ".locks"
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(tenant))
	f, err := os.OpenFile(filepath.Join(dir, hex.EncodeToString(sum[:8])+".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil // closing the file releases the lock
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("lock file: %w", err)
		}
		left := time.Until(deadline)
		if left <= 0 {
			f.Close()
			return nil, store.ErrLocked
		}
		select {
		case <-time.After(min(left, 50*time.Millisecond)):
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		}
	}
}
