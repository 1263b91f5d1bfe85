package store

import (
	"net/url"
	"regexp"
	"strings"
)

// NotShown stands in for a connection string that cannot be shown safely.
const NotShown = "(connection string not shown)"

var scheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]{0,15}$`)

// RedactURL gives a store URL as it may appear in messages: scheme, host, port and path, never
// user info, options or fragment. A SQLite URL names a local file and is shown whole. Whatever
// does not parse as an unambiguous URL is NotShown: a password with an unescaped /, #, ? or @
// moves part of itself into what would look like the host or path, and a keyword DSN
// (host=… password=…) is all options.
func RedactURL(raw string) string {
	name, rest, ok := strings.Cut(raw, ":")
	if !ok || !scheme.MatchString(name) {
		return NotShown
	}
	if s := strings.ToLower(name); s == "sqlite" || s == "sqlite3" {
		if p, _, _ := strings.Cut(rest, "?"); !strings.ContainsAny(p, "@#") {
			return name + ":" + p
		}
		return NotShown
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return NotShown
	}
	// A well-formed URL has at most one @, the one ending its user info; any other @ belongs to
	// a password that was not percent-encoded.
	if at := strings.Count(raw, "@"); at > 1 || at == 1 && u.User == nil {
		return NotShown
	}
	return u.Scheme + "://" + u.Host + u.EscapedPath()
}
