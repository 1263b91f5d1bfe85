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
// when it is the raw input itself (-1 when transcoded). For a file declared single-byte it also
// returns the sniffer that looks for UTF-8 in it. override "utf-8" ignores the declaration.
// A non-nil *Error means the encoding is unsupported.
func decodeInput(r io.Reader, override string) (io.Reader, int, *utf8Sniffer, *Error) {
	switch strings.ToLower(override) {
	case "", "utf-8", "utf8":
	default:
		return nil, 0, nil, &Error{Msg: fmt.Sprintf("encoding override %q is not supported (only utf-8)", override)}
	}
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(4)
	var enc encoding.Encoding
	switch {
	case bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}):
		br.Discard(3)
		return br, 3, nil, nil
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
		return transform.NewReader(br, enc.NewDecoder()), -1, nil, nil
	}
	if override != "" {
		return br, 0, nil, nil
	}
	// An ASCII-compatible encoding: the declaration, if any, names it.
	decl, _ := br.Peek(512)
	label, col := declEncoding(decl)
	switch strings.ToLower(label) {
	case "", "utf-8", "utf8", "us-ascii", "ascii":
		return br, 0, nil, nil
	case "iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "latin-1", "l1":
		enc = charmap.ISO8859_1
	case "iso-8859-15", "iso8859-15", "latin-9", "latin9":
		enc = charmap.ISO8859_15
	case "windows-1252", "cp1252", "x-cp1252":
		enc = charmap.Windows1252
	case "utf-16", "utf-16le", "utf-16be":
		return nil, 0, nil, &Error{Line: 1, Column: col, Msg: fmt.Sprintf("encoding %q declared but the file has no UTF-16 byte order mark", clip(label, quoteMax))}
	default:
		return nil, 0, nil, &Error{Line: 1, Column: col, Msg: fmt.Sprintf("unsupported encoding %q (supported: UTF-8, UTF-16, ISO-8859-1, WINDOWS-1252)", clip(label, quoteMax))}
	}
	s := &utf8Sniffer{r: br, label: label, line: 1, col: 1}
	return transform.NewReader(s, enc.NewDecoder()), -1, s, nil
}

// utf8Sniffer watches the raw bytes of a file declared single-byte for multi-byte UTF-8
// sequences: a UTF-8 file declared ISO-8859-1 would otherwise turn every accented name into
// mojibake ("Ã¸" for "ø") without any error. Real single-byte text almost never forms valid
// UTF-8 sequences; valid ones in several places mean the declaration is wrong.
type utf8Sniffer struct {
	r                 io.Reader
	label             string
	line, col         int // of the next byte; a byte is a character in a single-byte encoding
	need              int // continuation bytes still expected
	startLine, startC int // where the current sequence began
	valid, invalid    int
	firstLine, firstC int
}

func (s *utf8Sniffer) Read(b []byte) (int, error) {
	n, err := s.r.Read(b)
	for _, c := range b[:n] {
		if c < 0x80 && s.need == 0 { // the common case
			if c == '\n' {
				s.line++
				s.col = 0
			}
			s.col++
			continue
		}
		if s.need > 0 {
			if c&0xC0 == 0x80 {
				s.need--
				s.col++
				if s.need == 0 {
					s.valid++
					if s.firstLine == 0 {
						s.firstLine, s.firstC = s.startLine, s.startC
					}
				}
				continue
			}
			s.invalid++
			s.need = 0
			if c < 0x80 {
				if c == '\n' {
					s.line++
					s.col = 0
				}
				s.col++
				continue
			}
		}
		switch {
		case c >= 0xC2 && c <= 0xDF:
			s.need = 1
		case c >= 0xE0 && c <= 0xEF:
			s.need = 2
		case c >= 0xF0 && c <= 0xF4:
			s.need = 3
		default:
			s.invalid++
		}
		s.startLine, s.startC = s.line, s.col
		s.col++
	}
	return n, err
}

// utf8Evidence is how many valid multi-byte UTF-8 sequences (outnumbering the bytes that are
// not UTF-8 at least two to one) make a single-byte declaration wrong.
const utf8Evidence = 3

// checkSniff fails a file declared single-byte that is evidently UTF-8.
func (p *parser) checkSniff() {
	s := p.sniff
	if s == nil || s.valid < utf8Evidence || s.valid < 2*s.invalid {
		return
	}
	p.failAt(s.firstLine, s.firstC, "", "the file declares encoding %q but is UTF-8 in %d places (first here): read as declared, its names would be garbled; fix the declaration, or set encoding: utf-8 for this tenant",
		clip(s.label, quoteMax), s.valid)
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
