package imses

import (
	"io"

	livesoap "github.com/imsfeed/imsfeed/live/soap"
)

// node is one element of a request (live/soap reads it for both dialects by namespace and local
// name, never by prefix).
type node = livesoap.Node

// errRefused is a request refused for what it contains (DOCTYPE, entities, too deep).
type errRefused = livesoap.ErrRefused

// parse reads a whole request into a tree, refusing DOCTYPEs, entities and absurd depths.
func parse(r io.Reader) (*node, error) { return livesoap.Parse(r) }

// identifier is the sourcedId below n: <sourcedId><identifier>X</identifier></sourcedId>, or a
// bare identifier.
func identifier(n *node) string {
	if n == nil {
		return ""
	}
	if id := n.Child("identifier"); id != nil {
		return id.Str()
	}
	return n.Str()
}

// esc escapes text for element content and attribute values.
func esc(s string) string { return livesoap.Esc(s) }
