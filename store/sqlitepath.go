package store

import (
	"errors"
	"fmt"
	"strings"
)

// SQLitePath reads the part of a sqlite: URL after the colon: "///abs/path.db" is
// /abs/path.db, "relative.db" is relative to the working directory, "//localhost/abs.db" is
// allowed; another host is an error. It lives here, not in storeurl, so that the config can
// check a store URL without linking the stores.
func SQLitePath(rest string) (string, error) {
	path := rest
	if after, ok := strings.CutPrefix(rest, "//"); ok {
		host, p, _ := strings.Cut(after, "/")
		if host != "" && host != "localhost" {
			return "", fmt.Errorf("sqlite:%s names host %q, but a SQLite file is local: write sqlite:///ABSOLUTE/PATH.db (three slashes) or sqlite:RELATIVE.db", rest, host)
		}
		path = "/" + p
	}
	if path == "" || path == "/" {
		return "", errors.New("sqlite store URL names no file (use sqlite:///abs/path.db or sqlite:relative.db)")
	}
	return path, nil
}
