package importer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"

	"github.com/imsfeed/imsfeed/source"
	"github.com/imsfeed/imsfeed/store"
)

// Retry is how a caller that retries (serve's queue) wants transient failures handled.
type Retry struct {
	// Defer: a transient failure is returned as a *TransientError, neither recorded nor mailed;
	// the caller tries again later.
	Defer bool
	// Earlier are the earlier attempts' failures, listed in the failure this attempt records.
	Earlier []string
}

type retryKey struct{}

// WithRetry sets how runs under ctx handle transient failures.
func WithRetry(ctx context.Context, r Retry) context.Context {
	return context.WithValue(ctx, retryKey{}, r)
}

func retryOf(ctx context.Context) Retry {
	r, _ := ctx.Value(retryKey{}).(Retry)
	return r
}

// TransientError is a failure that may pass by itself (source unreachable, tenant lock busy,
// file still being written), returned instead of a recorded run under Retry.Defer.
type TransientError struct{ Err error }

func (e *TransientError) Error() string { return e.Err.Error() }
func (e *TransientError) Unwrap() error { return e.Err }

// Transient says whether a failure may pass by itself. A host key, a bad file, a held run or
// a missing secret do not: retrying them only repeats the failure.
func Transient(err error) bool {
	if err == nil || errors.Is(err, source.ErrHostKey) {
		return false
	}
	if errors.Is(err, source.ErrNotSettled) || errors.Is(err, store.ErrLocked) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	for _, e := range []error{syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ETIMEDOUT, syscall.EHOSTUNREACH,
		syscall.ENETUNREACH, syscall.EPIPE, context.DeadlineExceeded} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// deferred returns the error to hand back instead of recording err, or nil to record it.
func deferred(ctx context.Context, err error) error {
	if retryOf(ctx).Defer && Transient(err) {
		return &TransientError{Err: err}
	}
	return nil
}

// withEarlier adds the earlier attempts to a failure that is recorded at last.
func withEarlier(ctx context.Context, err error) error {
	earlier := retryOf(ctx).Earlier
	if len(earlier) == 0 {
		return err
	}
	return fmt.Errorf("%w; after %d earlier attempts: %s", err, len(earlier), strings.Join(earlier, "; "))
}
