//go:build !unix

package sqlite

import (
	"context"
	"time"
)

// lockFile is a no-op where flock is missing: runs are exclusive within one process only.
func lockFile(context.Context, string, string, time.Time) (func(), error) { return func() {}, nil }
