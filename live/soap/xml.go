// Package soap is what the live channel's dialects share of SOAP 1.1: a request read into a
// tree known by namespace and local name, never by prefix or schema, and the envelope's
// WS-Security UsernameToken, and what both dialects write back: the XML writer, extension fields,
// faults, the WS-Security timestamp and the HTTP handling around a request.
package soap

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Node is one element of a request, known by namespace and local name (real traffic binds one
// prefix to different namespaces in header and body, so prefixes are never looked at).
type Node struct {
	Local string
	Kids  []*Node
	Text  string
	// tag is the element's namespace and attributes, one for all the elements of a namespace
	// without attributes (most: a request has hundreds of thousands of elements, 64 bytes each).
	tag *tag
}

type tag struct {
	space string
	attrs []xml.Attr
}

// Space is n's namespace.
func (n *Node) Space() string {
	if n == nil || n.tag == nil {
		return ""
	}
	return n.tag.space
}

// Limits on what a request may hold, beyond the body size the handler enforces.
const (
	maxDepth = 64
	maxNodes = 500_000
)

// ErrRefused is a request refused for what it contains (DOCTYPE, entities, too deep).
type ErrRefused struct{ Msg string }

func (e ErrRefused) Error() string { return e.Msg }

// Parse reads a whole XML document into a tree. A DOCTYPE, an entity declaration or reference
// (other than the five predefined ones) is refused: nothing is ever expanded or fetched.
func Parse(r io.Reader) (*Node, error) {
	d := xml.NewDecoder(r)
	d.Strict = true
	d.CharsetReader = func(label string, in io.Reader) (io.Reader, error) {
		switch strings.ToLower(label) {
		case "utf-8", "utf8", "us-ascii", "ascii":
			return in, nil
		}
		return nil, fmt.Errorf("encoding %q is not supported (send UTF-8)", label)
	}
	var stack []*Node
	var root *Node
	var a arena
	// kids holds the children of the open elements, each element's from its start in opened:
	// an element's Kids are made once, of the exact length, when it closes.
	var kids []*Node
	var opened []int
	count := 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if strings.Contains(err.Error(), "invalid character entity") {
				return nil, ErrRefused{"entity references other than the predefined five are refused"}
			}
			return nil, err
		}
		switch t := tok.(type) {
		case xml.Directive:
			return nil, ErrRefused{"a DOCTYPE or entity declaration is refused"}
		case xml.StartElement:
			count++
			if count > maxNodes {
				return nil, ErrRefused{"too many elements"}
			}
			if len(stack) >= maxDepth {
				return nil, ErrRefused{"elements nested too deeply"}
			}
			n := a.node(len(stack))
			n.Local, n.tag = a.name(t.Name.Local), a.tag(t.Name.Space, t.Attr)
			if len(stack) > 0 {
				kids = append(kids, n)
			} else if root != nil {
				return nil, errors.New("more than one root element")
			} else {
				root = n
			}
			stack = append(stack, n)
			opened = append(opened, len(kids))
		case xml.EndElement:
			n, from := stack[len(stack)-1], opened[len(opened)-1]
			n.Kids = a.kids(kids[from:])
			clear(kids[from:])
			kids = kids[:from]
			stack, opened = stack[:len(stack)-1], opened[:len(opened)-1]
		case xml.CharData:
			if len(stack) > 0 {
				n := stack[len(stack)-1]
				if len(kids) == opened[len(opened)-1] || len(bytes.TrimSpace(t)) > 0 {
					n.Text += string(t)
				}
			} else if len(bytes.TrimSpace(t)) > 0 {
				return nil, errors.New("text outside the root element")
			}
		}
	}
	if root == nil {
		return nil, errors.New("no XML element")
	}
	return root, nil
}

// arena makes a tree's nodes in blocks and gives each name and namespace one string: a
// plural request of 40,000 persons is about 480,000 elements, and an allocation each was most
// of the time and memory of reading it.
type arena struct {
	nodes []Node
	names map[string]string
	tags  map[string]*tag
}

// node is a new node at depth (the root's is 0). The top of the tree (envelope, header, body,
// request element, a plural request's set) is made apart from the blocks: a dialect lets the
// pairs below it go one by one while it holds the top, and a block holding a node of the top
// would hold every pair after it (a block's last pair has its children in the next block).
func (a *arena) node(depth int) *Node {
	if depth < 4 {
		return &Node{}
	}
	if len(a.nodes) == 0 {
		a.nodes = make([]Node, 512)
	}
	n := &a.nodes[0]
	a.nodes = a.nodes[1:]
	return n
}

// kids is a copy of list, of its exact length (nil when empty). Not made in blocks: a block
// of children's lists would point into the nodes' blocks before and after it, and so hold the
// whole tree while any pair of it is held.
func (a *arena) kids(list []*Node) []*Node {
	if len(list) == 0 {
		return nil
	}
	return append([]*Node(nil), list...)
}

// tag is the tag of an element in space with attrs: a new one when it has attributes, else
// the namespace's.
func (a *arena) tag(space string, attrs []xml.Attr) *tag {
	if len(attrs) > 0 {
		return &tag{space, attrs}
	}
	if t, ok := a.tags[space]; ok {
		return t
	}
	if a.tags == nil {
		a.tags = map[string]*tag{}
	}
	t := &tag{space: space}
	if len(a.tags) < 1000 {
		a.tags[space] = t
	}
	return t
}

// name is local, one string for every element of that name.
func (a *arena) name(local string) string {
	if s, ok := a.names[local]; ok {
		return s
	}
	if a.names == nil {
		a.names = map[string]string{}
	}
	if len(a.names) < 1000 {
		a.names[local] = local
	}
	return local
}

// Child is the first child of n with this local name (nil when none, or n is nil).
func (n *Node) Child(local string) *Node {
	if n == nil {
		return nil
	}
	for _, k := range n.Kids {
		if k.Local == local {
			return k
		}
	}
	return nil
}

// Children are the children of n with this local name.
func (n *Node) Children(local string) []*Node {
	if n == nil {
		return nil
	}
	var out []*Node
	for _, k := range n.Kids {
		if k.Local == local {
			out = append(out, k)
		}
	}
	return out
}

// Str is n's trimmed text ("" for nil).
func (n *Node) Str() string {
	if n == nil {
		return ""
	}
	return strings.TrimSpace(n.Text)
}

// Path follows local names down from n.
func (n *Node) Path(locals ...string) *Node {
	for _, l := range locals {
		n = n.Child(l)
	}
	return n
}

// Attr is the value of n's attribute (any namespace when space is "").
func (n *Node) Attr(space, local string) (string, bool) {
	if n == nil {
		return "", false
	}
	for _, a := range n.Attrs() {
		if a.Name.Local == local && (space == "" || a.Name.Space == space) {
			return a.Value, true
		}
	}
	return "", false
}

// Attrs are n's attributes.
func (n *Node) Attrs() []xml.Attr {
	if n == nil || n.tag == nil {
		return nil
	}
	return n.tag.attrs
}

// Esc escapes text for element content and attribute values.
func Esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// Digest is a SHA-256 of n's content: every element's namespace and local name, its attributes
// (namespace declarations aside) and its trimmed text, in order. A client that sends a request
// again sends the same Body, whatever prefixes it binds and whatever per-send header it adds
// (a WS-Security Nonce and Created), so the live channel tells a retry by the Body's digest
// and the message identifier; any changed value makes another digest.
func (n *Node) Digest() string {
	// The fields go through a buffer of a few kilobytes, hashed as it fills: each written to
	// the hash on its own (a string concatenated, copied to bytes, passed through the
	// interface), or all gathered in one growing buffer, cost a createPersons of 100 about half
	// a millisecond. The bytes hashed are the same.
	h := sha256.New()
	buf := make([]byte, 0, 8192)
	field := func(prefix, s string) {
		if len(buf)+len(prefix)+len(s)+binary.MaxVarintLen64 > cap(buf) {
			h.Write(buf)
			buf = buf[:0]
		}
		buf = binary.AppendUvarint(buf, uint64(len(prefix)+len(s)))
		buf = append(append(buf, prefix...), s...)
	}
	var walk func(n *Node)
	walk = func(n *Node) {
		field("<", n.Space())
		field("", n.Local)
		for _, a := range n.Attrs() {
			if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
				continue
			}
			field("@", a.Name.Space)
			field("", a.Name.Local)
			field("", a.Value)
		}
		field("", strings.TrimSpace(n.Text))
		for _, k := range n.Kids {
			walk(k)
		}
		field("", ">")
	}
	if n != nil {
		walk(n)
	}
	h.Write(buf)
	return hex.EncodeToString(h.Sum(nil))
}
