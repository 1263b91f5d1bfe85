package imses

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// node is one element of a request, known by namespace and local name (real traffic binds one
// prefix to different namespaces in header and body, so prefixes are never looked at).
type node struct {
	space, local string
	attrs        []xml.Attr
	kids         []*node
	text         string
}

// Limits on what a request may hold, beyond the body size the handler enforces.
const (
	maxDepth = 64
	maxNodes = 500_000
)

// errRefused is a request refused for what it contains (DOCTYPE, entities, too deep).
type errRefused struct{ msg string }

func (e errRefused) Error() string { return e.msg }

// parse reads a whole XML document into a tree. A DOCTYPE, an entity declaration or reference
// (other than the five predefined ones) is refused: nothing is ever expanded or fetched.
func parse(r io.Reader) (*node, error) {
	d := xml.NewDecoder(r)
	d.Strict = true
	d.CharsetReader = func(label string, in io.Reader) (io.Reader, error) {
		switch strings.ToLower(label) {
		case "utf-8", "utf8", "us-ascii", "ascii":
			return in, nil
		}
		return nil, fmt.Errorf("encoding %q is not supported (send UTF-8)", label)
	}
	var stack []*node
	var root *node
	count := 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if strings.Contains(err.Error(), "invalid character entity") {
				return nil, errRefused{"entity references other than the predefined five are refused"}
			}
			return nil, err
		}
		switch t := tok.(type) {
		case xml.Directive:
			return nil, errRefused{"a DOCTYPE or entity declaration is refused"}
		case xml.StartElement:
			count++
			if count > maxNodes {
				return nil, errRefused{"too many elements"}
			}
			if len(stack) >= maxDepth {
				return nil, errRefused{"elements nested too deeply"}
			}
			n := &node{space: t.Name.Space, local: t.Name.Local, attrs: t.Attr}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.kids = append(p.kids, n)
			} else if root != nil {
				return nil, errors.New("more than one root element")
			} else {
				root = n
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				n := stack[len(stack)-1]
				if len(n.kids) == 0 || strings.TrimSpace(string(t)) != "" {
					n.text += string(t)
				}
			} else if strings.TrimSpace(string(t)) != "" {
				return nil, errors.New("text outside the root element")
			}
		}
	}
	if root == nil {
		return nil, errors.New("no XML element")
	}
	return root, nil
}

// child is the first child of n with this local name (nil when none, or n is nil).
func (n *node) child(local string) *node {
	if n == nil {
		return nil
	}
	for _, k := range n.kids {
		if k.local == local {
			return k
		}
	}
	return nil
}

// children are the children of n with this local name.
func (n *node) children(local string) []*node {
	if n == nil {
		return nil
	}
	var out []*node
	for _, k := range n.kids {
		if k.local == local {
			out = append(out, k)
		}
	}
	return out
}

// str is n's trimmed text ("" for nil).
func (n *node) str() string {
	if n == nil {
		return ""
	}
	return strings.TrimSpace(n.text)
}

// path follows local names down from n.
func (n *node) path(locals ...string) *node {
	for _, l := range locals {
		n = n.child(l)
	}
	return n
}

func (n *node) attr(space, local string) (string, bool) {
	if n == nil {
		return "", false
	}
	for _, a := range n.attrs {
		if a.Name.Local == local && (space == "" || a.Name.Space == space) {
			return a.Value, true
		}
	}
	return "", false
}

// identifier is the sourcedId below n: <sourcedId><identifier>X</identifier></sourcedId>, or a
// bare identifier.
func identifier(n *node) string {
	if n == nil {
		return ""
	}
	if id := n.child("identifier"); id != nil {
		return id.str()
	}
	return n.str()
}

// esc escapes text for element content and attribute values.
func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
