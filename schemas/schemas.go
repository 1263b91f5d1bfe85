// Package schemas embeds the files imsfeed ships beside its code: the SQL migrations of each
// store (migrations/<dialect>/NNNN_name.sql, applied in name order by the stores on open).
package schemas

import (
	"embed"
	"fmt"
	"io/fs"
)

//go:embed migrations
var files embed.FS

// Migrations returns the migration files of one dialect ("postgres" or "sqlite"), named
// NNNN_name.sql at the root of the returned file system.
func Migrations(dialect string) (fs.FS, error) {
	sub, err := fs.Sub(files, "migrations/"+dialect)
	if err != nil {
		return nil, err
	}
	if _, err := fs.Stat(sub, "."); err != nil {
		return nil, fmt.Errorf("no migrations for SQL dialect %q", dialect)
	}
	return sub, nil
}
