package ims

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// errTooLarge is returned by limitReader once the input passes Options.MaxSize.
var errTooLarge = errors.New("too large")

// limitReader fails with errTooLarge as soon as more than max bytes were read, so an oversized
// file is rejected without reading it all.
type limitReader struct {
	r   io.Reader
	n   int64
	max int64
}

func (l *limitReader) Read(b []byte) (int, error) {
	n, err := l.r.Read(b)
	l.n += int64(n)
	if l.n > l.max {
		return n, errTooLarge
	}
	return n, err
}

// decodeInput detects the encoding (BOM, UTF-16 byte pattern or the XML declaration) and
// returns a reader of UTF-8 text with any BOM removed, and how many raw bytes precede that text
// when it is the raw input itself (-1 when transcoded). A non-nil *Error means the encoding is
// unsupported.
func decodeInput(r io.Reader) (io.Reader, int, *Error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(4)
	var enc encoding.Encoding
	switch {
	case bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}):
		br.Discard(3)
		return br, 3, nil
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}):
		enc = unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM)
	case bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		enc = unicode.UTF16(unicode.BigEndian, unicode.ExpectBOM)
	case bytes.Equal(head, []byte{'<', 0, '?', 0}):
		enc = unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM)
	case bytes.Equal(head, []byte{0, '<', 0, '?'}):
		enc = unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM)
	}
	if enc != nil {
		return transform.NewReader(br, enc.NewDecoder()), -1, nil
	}
	// An ASCII-compatible encoding: the declaration, if any, names it.
	decl, _ := br.Peek(512)
	label, col := declEncoding(decl)
	switch strings.ToLower(label) {
	case "", "utf-8", "utf8", "us-ascii", "ascii":
		return br, 0, nil
	case "iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "latin-1", "l1":
		enc = charmap.ISO8859_1
	case "iso-8859-15", "iso8859-15", "latin-9", "latin9":
		enc = charmap.ISO8859_15
	case "windows-1252", "cp1252", "x-cp1252":
		enc = charmap.Windows1252
	case "utf-16", "utf-16le", "utf-16be":
		return nil, 0, &Error{Line: 1, Column: col, Msg: fmt.Sprintf("encoding %q declared but the file has no UTF-16 byte order mark", label)}
	default:
		return nil, 0, &Error{Line: 1, Column: col, Msg: fmt.Sprintf("unsupported encoding %q (supported: UTF-8, UTF-16, ISO-8859-1, WINDOWS-1252)", label)}
	}
	return transform.NewReader(br, enc.NewDecoder()), -1, nil
}

// declEncoding returns the encoding label of an XML declaration at the start of b and the
// 1-based column of its value.
func declEncoding(b []byte) (string, int) {
	if !bytes.HasPrefix(b, []byte("<?xml")) {
		return "", 0
	}
	end := bytes.Index(b, []byte("?>"))
	if end < 0 {
		return "", 0
	}
	d := b[:end]
	i := bytes.Index(d, []byte("encoding"))
	if i < 0 {
		return "", 0
	}
	j := i + len("encoding")
	for j < len(d) && (d[j] == ' ' || d[j] == '\t' || d[j] == '\r' || d[j] == '\n' || d[j] == '=') {
		j++
	}
	if j >= len(d) || (d[j] != '"' && d[j] != '\'') {
		return "", 0
	}
	q := d[j]
	k := bytes.IndexByte(d[j+1:], q)
	if k < 0 {
		return "", 0
	}
	return string(d[j+1 : j+1+k]), j + 2
}
