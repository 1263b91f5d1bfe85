package ims

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/imsfeed/imsfeed/record"
)

// The scanner is a strict, streaming XML 1.0 tokenizer over UTF-8 bytes. It keeps only the
// record being read, as a small tree in reusable arenas (nodes, attributes, text), so memory
// does not grow with the file. It never expands a DTD or fetches anything.

// node is one element of the record being read. Links are indices into parser.nodes (-1: none).
type node struct {
	local               string // interned local name (namespace prefix dropped)
	parent, first, last int32
	next, prev          int32
	a0, a1              int32 // attributes: parser.attrs[a0:a1]
	t0, t1              int32 // direct text: parser.text[t0:t1]
	tm                  int32 // len(parser.text) when the node began: its subtree's text starts here
	line, col           int32
}

type nattr struct {
	local  string
	v0, v1 int32 // value: parser.text[v0:v1]
}

// name is an interned element or attribute name. secret is SecretName(local) and userid is
// local == "userid", decided once when the name is interned (a name is read millions of times).
type name struct {
	q, local       string
	secret, userid bool
}

// open is an element on the stack: its qualified name (for the end tag) and its node (-1 when
// it is outside any record).
type open struct {
	q         string
	node      int32
	line, col int
	secret    bool // a userid element or inside one: nothing in it is ever quoted
}

// fatal is the panic value that carries an *Error (or a handler error) to Read's recover.
type fatal struct{ err error }

const bufSize = 64 << 10

type parser struct {
	// builder turns the records read into Person, Group and Membership records, on this
	// goroutine; with Options.Aside, aside hands copies of them to a builder of its own.
	builder
	aside  *aside
	ctx    context.Context
	opts   Options
	result Result // what Read returns; builder.res points here

	r        io.Reader
	buf      []byte
	pos, end int
	eof      bool
	rerr     error

	line, col int   // position of buf[pos]
	base      int64 // offset in the decoded text of buf[0]
	rawPrefix int   // raw bytes before the decoded text (BOM), -1 when transcoded
	rootEnd   int64 // offset just after </enterprise>, for tests

	names     map[string]*name
	nameCache [nameCacheSize]*name
	stack     []open
	nameBuf   []byte
	tmpQ      []string // qualified attribute names of the current tag, for the duplicate check

	inRec   bool
	isProps bool
	records int // record elements seen, whether handed over or skipped
	modeSet bool

	// limits, with the defaults applied
	maxAttrs, maxRecord, maxText int
	recLine, recCol              int                 // where the record being read began
	attrSeen                     map[string]struct{} // duplicate check of a tag with many attributes

	// tagSecret: the tag being read is a userid or has a password attribute; nothing read from
	// here on in it is quoted in an error.
	tagSecret bool

	// unknown children of <enterprise> (a misspelled <pers0n>), warned per name
	unknown   []unknownElem
	inUnknown bool // inside one; uLine:uCol and uName say which
	uKeyed    bool // the current one holds a sourcedid
	uLine     int
	uCol      int
	uName     string
	keyed     unknownElem // the first unknown element holding a sourcedid, and how many did

	sniff *utf8Sniffer // UTF-8 evidence in a file declared single-byte
}

type unknownElem struct {
	name             string
	line, col, count int
}

// Default limits (Options.MaxAttributes, MaxRecordSize, MaxTextSize).
const (
	DefaultMaxAttributes = 100
	DefaultMaxRecordSize = 32 << 20
	DefaultMaxTextSize   = 4 << 20
)

// Sizes of what a record holds in memory, for MaxRecordSize.
const (
	nodeSize  = int(unsafe.Sizeof(node{}))
	nattrSize = int(unsafe.Sizeof(nattr{}))
)

func newParser(ctx context.Context, file string, opts Options, h Handler, maps [record.NumTypes][]compiledMapping) *parser {
	p := &parser{
		builder: builder{
			file: file, h: h, maps: maps, seed: maphash.MakeSeed(),
			tree: tree{nodes: make([]node, 0, 64), attrs: make([]nattr, 0, 32), text: make([]byte, 0, 4096)},
		},
		ctx: ctx, opts: opts,
		buf:   make([]byte, bufSize),
		line:  1,
		col:   1,
		names: make(map[string]*name, 64),
		stack: make([]open, 0, 16),

		maxAttrs:  orDefault(opts.MaxAttributes, DefaultMaxAttributes),
		maxRecord: orDefault(int(min(opts.MaxRecordSize, 1<<40)), DefaultMaxRecordSize),
		maxText:   orDefault(int(min(opts.MaxTextSize, 1<<30)), DefaultMaxTextSize),
	}
	p.res = &p.result
	if opts.Aside {
		p.aside = newAside(&p.builder)
	}
	return p
}

func orDefault(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

// quoteMax is how much of any input an error or warning quotes.
const quoteMax = 40

// clip cuts s to n characters, marking the cut with "…".
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := 0
	for k := range s {
		if i == n {
			return s[:k] + "…"
		}
		i++
	}
	return s
}

// hidden reports whether input read now may be part of a password: inside a userid element,
// or in a tag after an attribute named like a password (an unescaped quote in its value makes
// the rest of the password read as names).
func (p *parser) hidden() bool {
	return p.tagSecret || (len(p.stack) > 0 && p.stack[len(p.stack)-1].secret)
}

const notShown = "(not shown: it may be part of a password)"

// show is input as an error may quote it: cut short, or not at all where it may be a password.
func (p *parser) show(s string) string {
	if p.hidden() {
		return notShown
	}
	return clip(s, quoteMax)
}

// showQ is show, quoted.
func (p *parser) showQ(s string) string {
	if p.hidden() {
		return notShown
	}
	return strconv.Quote(clip(s, quoteMax))
}

// SecretName reports whether an attribute name looks like it holds a password; such
// attributes are never stored, mapped or quoted.
func SecretName(local string) bool {
	l := strings.ToLower(local)
	switch l {
	case "pass", "pw", "pin":
		return true
	}
	for _, s := range []string{"passw", "passo", "passph", "passc", "pwd", "secret", "kennwort", "wachtwoord", "losen", "lösen", "senha", "contrase", "haslo", "hasło", "salasana"} {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

// truncated fails at the end of the input: the file was cut before its root element closed.
func (p *parser) truncated() {
	for p.pos < p.end {
		p.adv()
	}
	p.failAt(p.line, p.col, "", "the file ends before </enterprise> (truncated?)")
}

// fail stops the read with a fatal error at the given position.
func (p *builder) failAt(line, col int, key, format string, args ...any) {
	panic(fatal{&Error{File: p.file, Line: line, Column: col, Key: clip(key, keyMax), Msg: fmt.Sprintf(format, args...)}})
}

// keyMax is how much of a record key an error or warning quotes.
const keyMax = 100

// fail names the record being read when its key was read before the problem, so a reader of
// the error can find it without counting lines.
func (p *parser) fail(format string, args ...any) {
	p.failAt(p.line, p.col, p.recKey(), format, args...)
}

func (p *parser) warn(line, col int, key, format string, args ...any) {
	w := record.Warning{Line: line, Column: col, Key: clip(key, keyMax), Message: fmt.Sprintf(format, args...)}
	w.Kind = w.Class() // the messages say it: "repaired: …", "…; skipped", "… ignored"
	p.res.Warnings = append(p.res.Warnings, w)
	if p.aside != nil {
		p.aside.readerWarned()
	}
}

func (p *parser) run(raw io.Reader) (res *Result, err error) {
	if p.aside != nil {
		// Runs after the recover below: the records handed aside are built before Read
		// returns, and an error found there, earlier in the file, wins.
		defer func() { err = p.aside.finish(p.res, err) }()
	}
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(fatal)
			if !ok {
				panic(r)
			}
			// What was read before the error, for `validate`.
			if p.res.Mode == "" {
				p.res.Mode = p.effectiveMode()
			}
			res, err = p.res, f.err
		}
	}()
	if p.opts.MaxSize > 0 {
		raw = &limitReader{r: raw, max: p.opts.MaxSize}
	}
	dec, prefix, sniff, derr := decodeInput(raw, p.opts.Encoding)
	p.rawPrefix = prefix
	p.sniff = sniff
	if derr != nil {
		if p.opts.MaxSize > 0 && raw.(*limitReader).n > p.opts.MaxSize {
			p.failAt(1, 1, "", "file is larger than the size limit of %d bytes", p.opts.MaxSize)
		}
		derr.File = p.file
		return p.res, derr
	}
	p.r = dec
	p.document()
	p.checkSniff()
	if p.res.Mode == "" {
		p.res.Mode = p.effectiveMode()
	}
	return p.res, nil
}

// fill makes at least one unread byte available; false at end of input.
func (p *parser) fill() bool {
	if p.pos < p.end {
		return true
	}
	return p.ensure(1)
}

// ensure makes n unread bytes available if the input has them; false when it ends earlier.
func (p *parser) ensure(n int) bool {
	for p.end-p.pos < n {
		if p.eof {
			return false
		}
		if p.pos > 0 {
			p.base += int64(p.pos)
			copy(p.buf, p.buf[p.pos:p.end])
			p.end -= p.pos
			p.pos = 0
		}
		m, err := p.r.Read(p.buf[p.end:])
		p.end += m
		if err != nil {
			p.eof = true
			if err != io.EOF {
				p.rerr = err
				if errors.Is(err, errTooLarge) {
					p.fail("file is larger than the size limit of %d bytes", p.opts.MaxSize)
				}
				p.fail("read error: %v", err)
			}
		}
	}
	return true
}

// peekIs reports whether the unread input starts with s.
func (p *parser) peekIs(s string) bool {
	if !p.ensure(len(s)) {
		return false
	}
	return string(p.buf[p.pos:p.pos+len(s)]) == s
}

// adv consumes one byte, keeping line and column (columns count characters).
func (p *parser) adv() {
	c := p.buf[p.pos]
	p.pos++
	if c == '\n' {
		p.line++
		p.col = 1
	} else if c&0xC0 != 0x80 {
		p.col++
	}
}

// advN consumes n bytes known to be present.
func (p *parser) advN(n int) {
	for i := 0; i < n; i++ {
		p.adv()
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\t' || c == '\r' }

// skipSpace consumes whitespace; it returns false at end of input.
func (p *parser) skipSpace() bool {
	for {
		if !p.fill() {
			return false
		}
		if !isSpace(p.buf[p.pos]) {
			return true
		}
		p.adv()
	}
}

// document reads prolog, root element and epilog.
func (p *parser) document() {
	sawAny := false
	for {
		if !p.skipSpace() {
			if !sawAny {
				p.fail("empty file")
			}
			p.fail("no root element: expected <enterprise>")
		}
		sawAny = true
		if p.buf[p.pos] != '<' {
			p.fail("text before the root element: expected <enterprise>")
		}
		switch {
		case p.peekIs("<?"):
			p.pi()
		case p.peekIs("<!--"):
			p.comment()
		case p.peekIs("<!DOCTYPE"):
			l, c := p.line, p.col
			p.doctype()
			p.warn(l, c, "", "DOCTYPE ignored: no DTD or external entity is read")
		case p.peekIs("<!"):
			p.fail("unexpected markup before the root element")
		default:
			p.root()
			p.rootEnd = p.base + int64(p.pos)
			p.epilog()
			return
		}
	}
}

func (p *parser) epilog() {
	for {
		if !p.skipSpace() {
			return
		}
		if p.buf[p.pos] == '<' && p.peekIs("<?") && !p.peekIs("<?xml ") {
			p.pi()
			continue
		}
		if p.peekIs("<!--") {
			p.comment()
			continue
		}
		if p.opts.Lenient {
			p.warn(p.line, p.col, "", "repaired: ignored junk after </enterprise>")
			return
		}
		p.fail("content after the root element </enterprise> (lenient mode ignores it)")
	}
}

// pi skips a processing instruction; an XML declaration is only allowed at the very start.
func (p *parser) pi() {
	l, c := p.line, p.col
	atStart := l == 1 && c == 1
	p.advN(2)
	q := p.name()
	if (q.q == "xml" || q.q == "XML" || q.q == "Xml") && !atStart {
		p.failAt(l, c, "", "XML declaration not at the start of the file")
	}
	for {
		if !p.ensure(2) {
			p.truncated()
		}
		if p.buf[p.pos] == '?' && p.buf[p.pos+1] == '>' {
			p.advN(2)
			return
		}
		p.char()
	}
}

func (p *parser) comment() {
	p.advN(4)
	for {
		if !p.ensure(3) {
			p.truncated()
		}
		if p.buf[p.pos] == '-' && p.buf[p.pos+1] == '-' {
			if p.buf[p.pos+2] != '>' {
				p.fail("'--' inside a comment")
			}
			p.advN(3)
			return
		}
		p.char()
	}
}

// doctype skips <!DOCTYPE ...> including an internal subset; nothing in it is used.
func (p *parser) doctype() {
	depth := 0
	var quote byte
	p.advN(2)
	for {
		if !p.fill() {
			p.truncated()
		}
		b := p.buf[p.pos]
		switch {
		case quote != 0:
			if b == quote {
				quote = 0
			}
		case b == '"' || b == '\'':
			quote = b
		case b == '[':
			depth++
		case b == ']':
			depth--
		case b == '>' && depth <= 0:
			p.adv()
			return
		}
		p.char()
	}
}

// char consumes one character, checking that it is valid UTF-8 and an XML character, and
// returns its bytes (valid until the buffer is refilled).
func (p *parser) char() []byte {
	c := p.buf[p.pos]
	if c < 0x80 {
		if c < 0x20 && c != '\n' && c != '\t' && c != '\r' {
			p.fail("illegal character U+%04X", c)
		}
		p.adv()
		return p.buf[p.pos-1 : p.pos]
	}
	p.ensure(utf8.UTFMax)
	r, size := utf8.DecodeRune(p.buf[p.pos:p.end])
	if r == utf8.RuneError && size <= 1 {
		if p.eof && !utf8.FullRune(p.buf[p.pos:p.end]) {
			p.truncated()
		}
		p.fail("invalid UTF-8 (is the encoding declaration right?)")
	}
	if r == 0xFFFE || r == 0xFFFF {
		p.fail("illegal character U+%04X", r)
	}
	p.pos += size
	p.col++
	return p.buf[p.pos-size : p.pos]
}

// nameByte tells the bytes that may appear in a name (non-ASCII bytes are checked as UTF-8).
var nameByte = func() (t [256]bool) {
	for c := 0x21; c < 256; c++ {
		t[c] = !strings.ContainsRune("<>/=\"'?&;![]", rune(c)) && c != 0x7f
	}
	return t
}()

// name reads an XML name and interns it.
func (p *parser) name() *name {
	var b []byte
	buf := p.buf[p.pos:p.end]
	i, col := 0, p.col
	for i < len(buf) && nameByte[buf[i]] {
		if buf[i]&0xC0 != 0x80 {
			col++
		}
		i++
	}
	if i < len(buf) {
		// The name ends in the buffer, as nearly every one does: it is looked up where it is.
		p.pos += i
		p.col = col
		b = buf[:i]
	} else {
		b = p.nameAcross()
	}
	if len(b) == 0 {
		if !p.fill() {
			p.truncated()
		}
		p.fail("expected a name")
	}
	if c := b[0]; c == '-' || c == '.' || (c >= '0' && c <= '9') {
		p.fail("invalid name %s", p.showQ(string(b)))
	}
	// A file has a few dozen names, read millions of times: a small direct-mapped cache in
	// front of the table answers most of them with one comparison.
	c := &p.nameCache[(uint(len(b))*131+uint(b[0])*31+uint(b[len(b)-1]))&(nameCacheSize-1)]
	if *c != nil && (*c).q == string(b) {
		return *c
	}
	if n, ok := p.names[string(b)]; ok {
		*c = n
		return n
	}
	q := string(b)
	if !utf8.ValidString(q) {
		p.fail("invalid UTF-8 in a name")
	}
	n := &name{q: q, local: q}
	if i := bytes.LastIndexByte(b, ':'); i >= 0 {
		n.local = q[i+1:]
		if n.local == "" || i == 0 {
			p.fail("invalid name %s", p.showQ(q))
		}
	}
	n.secret, n.userid = SecretName(n.local), n.local == "userid"
	if len(p.names) < 4096 { // bound the table against hostile input
		p.names[q] = n
	}
	*c = n
	return n
}

// nameAcross reads a name that runs to the end of the buffer (or past it) into p.nameBuf.
func (p *parser) nameAcross() []byte {
	nb := p.nameBuf[:0]
	for {
		if p.pos >= p.end && !p.fill() {
			break
		}
		buf := p.buf[p.pos:p.end]
		i := 0
		for i < len(buf) && nameByte[buf[i]] {
			if buf[i]&0xC0 != 0x80 {
				p.col++
			}
			i++
		}
		nb = append(nb, buf[:i]...)
		p.pos += i
		if i < len(buf) {
			break
		}
		if len(nb) > 1000 {
			p.fail("name too long")
		}
	}
	p.nameBuf = nb
	return nb
}

const nameCacheSize = 256

// root reads the root element and everything in it.
func (p *parser) root() {
	l, c := p.line, p.col
	p.adv() // '<'
	n := p.name()
	if n.local != "enterprise" {
		p.failAt(l, c, "", "root element is <%s>, not <enterprise>: not an IMS Enterprise file", clip(n.q, quoteMax))
	}
	// No records is fatal in a snapshot (it would empty the tenant) but, in event mode, a
	// delta with nothing in it: a quiet night.
	p.tagSecret = false
	empty := p.attributes(-1)
	if empty {
		if p.opts.Mode == ModeEvent {
			return
		}
		p.failAt(l, c, "", "no records: <enterprise/> is empty")
	}
	p.stack = append(p.stack[:0], open{q: n.q, node: -1, line: l, col: c})
	p.content()
	p.unknownElements()
	if p.records == 0 && p.effectiveMode() != ModeEvent {
		p.failAt(l, c, "", "no records: the file has no <person>, <group> or <membership>")
	}
}

// content reads until the root element closes.
func (p *parser) content() {
	for {
		top := &p.stack[len(p.stack)-1]
		if !p.fill() {
			p.truncated()
		}
		if p.buf[p.pos] != '<' {
			p.chars(top.node)
			continue
		}
		if !p.ensure(2) {
			p.truncated()
		}
		switch p.buf[p.pos+1] {
		case '/':
			if p.endTag() {
				return
			}
		case '?':
			p.pi()
		case '!':
			switch {
			case p.peekIs("<!--"):
				p.comment()
			case p.peekIs("<![CDATA["):
				p.cdata(top.node)
			default:
				if !p.ensure(9) {
					p.truncated()
				}
				p.fail("unexpected markup %q inside an element", p.buf[p.pos:p.pos+2])
			}
		default:
			p.startTag()
		}
	}
}

// startTag reads a start tag and opens its element (or handles an empty element).
func (p *parser) startTag() {
	l, c := p.line, p.col
	p.pos++ // '<'
	p.col++
	secret := p.stack[len(p.stack)-1].secret
	p.tagSecret = secret
	n := p.name()
	secret = secret || n.userid
	p.tagSecret = secret
	depth := len(p.stack) // 1: a child of <enterprise>
	parent := p.stack[depth-1].node
	idx := int32(-1)
	if depth == 1 {
		switch n.local {
		case "person", "group", "membership", "properties":
			p.recLine, p.recCol = l, c
			p.beginRecord(n.local)
			idx = p.newNode(n.local, -1, l, c)
		case "comments":
		default:
			p.unknownStart(n.local, l, c)
		}
	} else if parent >= 0 {
		idx = p.newNode(n.local, parent, l, c)
	} else if p.inUnknown && n.local == "sourcedid" {
		p.uKeyed = true
	}
	empty := p.attributes(idx)
	if idx >= 0 {
		p.nodes[idx].a1 = int32(len(p.attrs))
	}
	if empty {
		if depth == 1 {
			p.unknownEnd()
		}
		p.closed(idx, depth)
		return
	}
	p.stack = append(p.stack, open{q: n.q, node: idx, line: l, col: c, secret: secret})
}

// unknownStart counts an unknown child of <enterprise>, per name.
func (p *parser) unknownStart(local string, line, col int) {
	p.inUnknown, p.uKeyed, p.uName, p.uLine, p.uCol = true, false, local, line, col
	for i := range p.unknown {
		if p.unknown[i].name == local {
			p.unknown[i].count++
			return
		}
	}
	if len(p.unknown) < 100 {
		p.unknown = append(p.unknown, unknownElem{name: local, line: line, col: col, count: 1})
	}
}

// unknownEnd is called when a child of <enterprise> closes.
func (p *parser) unknownEnd() {
	if !p.inUnknown {
		return
	}
	if p.uKeyed {
		if p.keyed.count == 0 {
			p.keyed = unknownElem{name: p.uName, line: p.uLine, col: p.uCol}
		}
		p.keyed.count++
	}
	p.inUnknown = false
}

// unknownElements warns about unknown children of <enterprise>, and fails a snapshot when one
// holds a sourcedid: it is likely a misspelled record, which the snapshot would remove.
func (p *parser) unknownElements() {
	for _, u := range p.unknown {
		times := "time"
		if u.count > 1 {
			times = "times"
		}
		p.warn(u.line, u.col, "", "unknown element <%s> inside <enterprise> ignored (%d %s): is it misspelled? (expected person, group, membership or properties)",
			clip(u.name, quoteMax), u.count, times)
	}
	mode := p.res.Mode
	if !p.modeSet {
		mode = p.effectiveMode()
	}
	if p.keyed.count > 0 && mode == ModeSnapshot {
		k := p.keyed
		more := ""
		if k.count > 1 {
			more = fmt.Sprintf(" (%d such elements)", k.count)
		}
		p.failAt(k.line, k.col, "", "unknown element <%s> holds a sourcedid%s: in a snapshot the record it was meant to be would be removed; fix the name (person, group or membership)",
			clip(k.name, quoteMax), more)
	}
}

// endTag reads an end tag; it reports whether the root element closed.
func (p *parser) endTag() bool {
	l, c := p.line, p.col
	p.pos += 2 // "</", which content made sure of
	p.col += 2
	p.tagSecret = false
	top := p.stack[len(p.stack)-1]
	var nq string
	if q := top.q; p.ensure(len(q)+1) && string(p.buf[p.pos:p.pos+len(q)]) == q && !nameByte[p.buf[p.pos+len(q)]] {
		// It names the element it closes, as it nearly always does: that name was read and
		// checked at the start tag, so it need not be read and interned again (name would
		// stop at the same byte: the next is no name byte).
		p.pos += len(q)
		p.col += utf8.RuneCountInString(q)
		nq = q
	} else {
		nq = p.name().q
	}
	p.skipSpace()
	if !p.fill() {
		p.truncated()
	}
	if p.buf[p.pos] != '>' {
		p.fail("expected '>' to end </%s>", p.show(nq))
	}
	p.adv()
	if nq != top.q {
		if top.secret {
			p.failAt(l, c, p.recKey(), "end tag does not match the element opened at line %d, column %d %s", top.line, top.col, notShown)
		}
		p.failAt(l, c, p.recKey(), "end tag </%s> does not match <%s> opened at line %d, column %d", clip(nq, quoteMax), clip(top.q, quoteMax), top.line, top.col)
	}
	p.stack = p.stack[:len(p.stack)-1]
	if len(p.stack) == 0 {
		return true
	}
	if len(p.stack) == 1 {
		p.unknownEnd()
	}
	p.closed(top.node, len(p.stack))
	return false
}

// closed is called when element idx (or an element outside records, idx -1) at stack depth
// depth has been read completely.
func (p *parser) closed(idx int32, depth int) {
	if idx < 0 {
		return
	}
	if depth == 1 {
		p.endRecord(idx)
		return
	}
	if p.inRec && p.rec == record.Memberships && depth == 2 {
		p.membershipChild(idx)
	}
}

// attributes reads a tag's attributes up to '>' or '/>' and reports whether it was '/>'.
// With node < 0 the values are checked but not kept.
func (p *parser) attributes(node int32) bool {
	mark := len(p.text)
	markA := len(p.attrs)
	p.tmpQ = p.tmpQ[:0]
	if len(p.attrSeen) > 0 {
		clear(p.attrSeen)
	}
	for {
		hadSpace := false
		for {
			if !p.fill() {
				p.truncated()
			}
			if !isSpace(p.buf[p.pos]) {
				break
			}
			hadSpace = true
			p.adv()
		}
		switch p.buf[p.pos] {
		case '>':
			p.adv()
			if node < 0 {
				p.text = p.text[:mark]
				p.attrs = p.attrs[:markA]
			}
			return false
		case '/':
			if !p.ensure(2) {
				p.truncated()
			}
			if p.buf[p.pos+1] != '>' {
				p.fail("expected '/>'")
			}
			p.advN(2)
			if node < 0 {
				p.text = p.text[:mark]
				p.attrs = p.attrs[:markA]
			}
			return true
		}
		if !hadSpace {
			p.fail("expected whitespace, '>' or '/>' in a tag")
		}
		l, c := p.line, p.col
		an := p.name()
		if an.secret {
			p.tagSecret = true
		}
		if len(p.tmpQ) >= p.maxAttrs {
			p.failAt(l, c, p.recKey(), "more than %d attributes on one element (max_attributes)", p.maxAttrs)
		}
		p.repeatedAttr(an.q, l, c)
		p.skipSpace()
		if !p.fill() {
			p.truncated()
		}
		if p.buf[p.pos] != '=' {
			p.fail("expected '=' after attribute %s", p.show(an.q))
		}
		p.adv()
		p.skipSpace()
		if !p.fill() {
			p.truncated()
		}
		q := p.buf[p.pos]
		if q != '"' && q != '\'' {
			p.fail("attribute %s: value must be quoted", p.show(an.q))
		}
		p.adv()
		v0 := int32(len(p.text))
		p.attrValue(q)
		if an.q == "xmlns" || (len(an.q) > 6 && an.q[:6] == "xmlns:") {
			p.text = p.text[:v0] // namespaces are ignored
			continue
		}
		p.attrs = append(p.attrs, nattr{local: an.local, v0: v0, v1: int32(len(p.text))})
		if node >= 0 {
			p.checkRecord()
		}
	}
}

// repeatedAttr fails when the tag already has attribute q: a scan of the few names a tag
// usually has, and a set once there are many, so the check stays linear.
func (p *parser) repeatedAttr(q string, l, c int) {
	const scan = 16
	if len(p.tmpQ) < scan {
		for _, x := range p.tmpQ {
			if x == q {
				p.failAt(l, c, p.recKey(), "attribute %s repeated", p.showQ(q))
			}
		}
		p.tmpQ = append(p.tmpQ, q)
		return
	}
	if p.attrSeen == nil {
		p.attrSeen = make(map[string]struct{})
	}
	if len(p.attrSeen) == 0 {
		for _, x := range p.tmpQ {
			p.attrSeen[x] = struct{}{}
		}
	}
	if _, dup := p.attrSeen[q]; dup {
		p.failAt(l, c, p.recKey(), "attribute %s repeated", p.showQ(q))
	}
	p.attrSeen[q] = struct{}{}
	p.tmpQ = append(p.tmpQ, q)
}

// checkRecord fails when the record being read holds more than max_record_size in memory
// (a membership holds one member at a time).
func (p *parser) checkRecord() {
	if !p.inRec {
		return
	}
	if len(p.text)+len(p.nodes)*nodeSize+len(p.attrs)*nattrSize > p.maxRecord {
		p.failAt(p.recLine, p.recCol, p.recKey(), "this record is larger than %d bytes (max_record_size)", p.maxRecord)
	}
}

// textTooLong fails at the start of a text node or attribute value longer than max_text_size.
func (p *parser) textTooLong(l, c int) {
	p.failAt(l, c, p.recKey(), "text longer than %d bytes (max_text_size)", p.maxText)
}

// attrValue reads an attribute value up to the closing quote into p.text.
func (p *parser) attrValue(q byte) {
	l, c := p.line, p.col
	v0 := len(p.text)
	for {
		if !p.fill() {
			p.truncated()
		}
		if len(p.text)-v0 > p.maxText {
			p.textTooLong(l, c)
		}
		b := p.buf[p.pos]
		switch {
		case b == q:
			p.adv()
			return
		case b == '<':
			p.fail("'<' in an attribute value")
		case b == '&':
			p.entity()
		case b == '\n' || b == '\t' || b == '\r':
			p.adv()
			if b == '\r' && p.fill() && p.buf[p.pos] == '\n' {
				p.adv()
			}
			p.text = append(p.text, ' ')
		case b < 0x80:
			if b < 0x20 {
				p.fail("illegal character U+%04X", b)
			}
			p.text = append(p.text, b)
			p.adv()
		default:
			p.text = append(p.text, p.char()...)
		}
	}
}

// entity reads a reference at '&' and appends its text. A bare '&' is an error, or in lenient
// mode a literal '&' and a warning.
func (p *parser) entity() {
	l, c := p.line, p.col
	p.ensure(12)
	rest := p.buf[p.pos+1 : p.end]
	if len(rest) > 11 {
		rest = rest[:11]
	}
	semi := bytes.IndexByte(rest, ';')
	ok := false
	var r rune
	if semi > 0 {
		ref := string(rest[:semi])
		switch ref {
		case "lt":
			r, ok = '<', true
		case "gt":
			r, ok = '>', true
		case "amp":
			r, ok = '&', true
		case "apos":
			r, ok = '\'', true
		case "quot":
			r, ok = '"', true
		default:
			if ref[0] == '#' && len(ref) > 1 {
				var n uint64
				var err error
				if ref[1] == 'x' {
					n, err = strconv.ParseUint(ref[2:], 16, 32)
				} else {
					n, err = strconv.ParseUint(ref[1:], 10, 32)
				}
				r = rune(n)
				ok = err == nil && ref != "#x" && isXMLChar(r)
			}
		}
	}
	if !ok && semi < 0 && p.eof && p.end-p.pos <= 11 {
		p.truncated()
	}
	if !ok {
		if !p.opts.Lenient {
			p.failAt(l, c, p.recKey(), "bare '&' or unknown entity reference (escape it as &amp;; lenient mode repairs it)")
		}
		p.warn(l, c, p.recKey(), "repaired: bare '&' read as a literal '&'")
		p.text = append(p.text, '&')
		p.adv()
		return
	}
	p.text = utf8.AppendRune(p.text, r)
	p.advN(semi + 2)
}

func isXMLChar(r rune) bool {
	switch {
	case r == 0x9 || r == 0xA || r == 0xD:
		return true
	case r >= 0x20 && r <= 0xD7FF:
		return true
	case r >= 0xE000 && r <= 0xFFFD:
		return true
	case r >= 0x10000 && r <= 0x10FFFF:
		return true
	}
	return false
}

// chars reads character data up to the next '<' and attaches it to node (if >= 0).
// Whitespace-only runs are dropped: every stored value is trimmed anyway.
func (p *parser) chars(node int32) {
	mark := len(p.text)
	blank := true
	l, c := p.line, p.col
	for {
		if p.pos >= p.end && !p.fill() {
			break
		}
		if len(p.text)-mark > p.maxText {
			p.textTooLong(l, c)
		}
		// fast path: plain printable ASCII
		buf := p.buf[p.pos:p.end]
		i := 0
		for i < len(buf) {
			b := buf[i]
			if b <= ' ' || b == '<' || b == '&' || b == ']' || b >= 0x80 {
				break
			}
			i++
		}
		if i > 0 {
			p.text = append(p.text, buf[:i]...)
			p.pos += i
			p.col += i
			blank = false
			continue
		}
		b := buf[0]
		switch {
		case b == '<':
			goto done
		case b == ' ' || b == '\t' || b == '\n':
			// A run of them at once: the indentation between tags is most of a file's text.
			j, line, col := 0, p.line, p.col
		run:
			for ; j < len(buf); j++ {
				switch buf[j] {
				case ' ', '\t':
					col++
				case '\n':
					line++
					col = 1
				default:
					break run
				}
			}
			p.text = append(p.text, buf[:j]...)
			p.pos += j
			p.line, p.col = line, col
		case b == '\r':
			p.adv()
			if !(p.fill() && p.buf[p.pos] == '\n') {
				p.text = append(p.text, '\n')
			}
		case b == '&':
			p.entity()
			blank = false
		case b == ']':
			if p.peekIs("]]>") {
				p.fail("']]>' in text")
			}
			p.text = append(p.text, b)
			p.adv()
			blank = false
		default:
			p.text = append(p.text, p.char()...)
			blank = false
		}
	}
done:
	if node < 0 || blank {
		if !blank && len(p.stack) == 1 {
			p.warn(p.line, p.col, "", "text directly inside <enterprise> ignored")
		}
		p.text = p.text[:mark]
		return
	}
	p.attachText(node, mark)
	p.checkRecord()
}

// attachText makes p.text[mark:] part of node's text.
func (p *parser) attachText(node int32, mark int) {
	n := &p.nodes[node]
	switch {
	case n.t1 == n.t0:
		n.t0, n.t1 = int32(mark), int32(len(p.text))
	case int(n.t1) == mark: // contiguous with what the node already has
		n.t1 = int32(len(p.text))
	default: // text split by a child element: move it together (rare)
		add := append([]byte(nil), p.text[mark:]...)
		p.text = p.text[:mark]
		t0 := int32(len(p.text))
		p.text = append(p.text, p.text[n.t0:n.t1]...)
		p.text = append(p.text, add...)
		n.t0, n.t1 = t0, int32(len(p.text))
	}
}

func (p *parser) cdata(node int32) {
	l, c := p.line, p.col
	p.advN(9)
	mark := len(p.text)
	for {
		if !p.ensure(3) {
			p.truncated()
		}
		if len(p.text)-mark > p.maxText {
			p.textTooLong(l, c)
		}
		if p.buf[p.pos] == ']' && p.buf[p.pos+1] == ']' && p.buf[p.pos+2] == '>' {
			p.advN(3)
			break
		}
		b := p.buf[p.pos]
		if b == '\r' {
			p.adv()
			if !(p.fill() && p.buf[p.pos] == '\n') {
				p.text = append(p.text, '\n')
			}
			continue
		}
		p.text = append(p.text, p.char()...)
	}
	if node < 0 || len(bytes.TrimSpace(p.text[mark:])) == 0 {
		p.text = p.text[:mark]
		return
	}
	p.attachText(node, mark)
	p.checkRecord()
}

func (p *parser) newNode(local string, parent int32, line, col int) int32 {
	idx := int32(len(p.nodes))
	p.nodes = append(p.nodes, node{
		local: local, parent: parent, first: -1, last: -1, next: -1, prev: -1,
		a0: int32(len(p.attrs)), a1: int32(len(p.attrs)), tm: int32(len(p.text)),
		line: int32(line), col: int32(col),
	})
	if parent >= 0 {
		pn := &p.nodes[parent]
		if pn.last >= 0 {
			p.nodes[pn.last].next = idx
			p.nodes[idx].prev = pn.last
		} else {
			pn.first = idx
		}
		pn.last = idx
	}
	p.checkRecord()
	return idx
}

// keySet is a set of 64-bit key hashes (open addressing, 0 = empty) with the line where each
// key was first seen: about 12–24 bytes per key, so duplicate detection stays small at
// millions of memberships.
type keySet struct {
	slots []uint64
	lines []int32
	n     int
}

// add inserts h, seen at line, and reports whether it was new; if not, the line it was first
// seen at.
func (s *keySet) add(h uint64, line int) (int, bool) {
	if h == 0 {
		h = 1
	}
	if s.n*4 >= len(s.slots)*3 {
		s.grow()
	}
	mask := uint64(len(s.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch s.slots[i] {
		case 0:
			s.slots[i] = h
			s.lines[i] = int32(min(line, 1<<31-1))
			s.n++
			return 0, true
		case h:
			return int(s.lines[i]), false
		}
	}
}

func (s *keySet) grow() {
	old, oldLines := s.slots, s.lines
	size := 1024
	if len(old) > 0 {
		size = 2 * len(old)
	}
	s.slots = make([]uint64, size)
	s.lines = make([]int32, size)
	s.n = 0
	for i, h := range old {
		if h != 0 {
			s.add(h, int(oldLines[i]))
		}
	}
}
