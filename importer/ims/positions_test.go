package ims

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/imsfeed/imsfeed/record"
)

// TestPositionsAndKeysWhateverTheLayout: each membership's line:column (its <role>, columns
// counted in characters) and key are those a plain count over the file's bytes gives, in a
// file laid out with runs of spaces, tabs and newlines between its tags, prefixed names of
// several lengths and non-ASCII text, several times the reader's 64 KiB buffer; read whole,
// and one byte at a time (so that every name and run crosses the buffer's end).
func TestPositionsAndKeysWhateverTheLayout(t *testing.T) {
	t.Parallel()
	rnd := rand.New(rand.NewPCG(18, 2))
	space := func() string {
		var b strings.Builder
		for range rnd.IntN(12) {
			b.WriteByte(" \t\n"[rnd.IntN(3)])
		}
		return b.String()
	}
	var doc bytes.Buffer
	type want struct {
		key       record.MembershipKey
		line, col int
	}
	var wants []want
	doc.WriteString("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<enterprise>")
	for g := range 40 {
		group := fmt.Sprintf("G%03d", g)
		doc.WriteString(space() + "<group><sourcedid><id>" + group + "</id></sourcedid><description><short>Gruppe å " + group + "</short></description></group>")
	}
	for p := range 300 {
		doc.WriteString(fmt.Sprintf("%s<person>%s<sourcedid><id>P%04d</id></sourcedid>%s<name><fn>Håkon Ødegård\t%d</fn></name></person>", space(), space(), p, space(), p))
	}
	marks := map[int]want{} // offset of a <role> in doc → its membership
	for g := range 40 {
		pre := strings.Repeat("x", rnd.IntN(9))
		if pre != "" {
			pre += ":"
		}
		group := fmt.Sprintf("G%03d", g)
		doc.WriteString(space() + "<" + pre + "membership>" + space() + "<sourcedid><id>" + space() + group + space() + "</id></sourcedid>")
		for range 60 {
			member := fmt.Sprintf("P%04d", rnd.IntN(300))
			role := fmt.Sprintf("0%d", 1+rnd.IntN(8))
			doc.WriteString(space() + "<" + pre + "member>" + space() + "<sourcedid><" + pre + "id>" + member + "</" + pre + "id></sourcedid>" + space() + "<idtype>1</idtype>" + space())
			marks[doc.Len()] = want{key: record.MembershipKey{Group: group, Member: member, Role: role}}
			doc.WriteString("<" + pre + "role " + space() + "roletype=\"" + role + "\"" + space() + "><status>1</status></" + pre + "role>" + space() + "</" + pre + "member>")
		}
		doc.WriteString(space() + "</" + pre + "membership>")
	}
	doc.WriteString(space() + "</enterprise>\n")
	line, col := 1, 1
	for i, c := range doc.Bytes() {
		if w, ok := marks[i]; ok {
			w.line, w.col = line, col
			wants = append(wants, w)
		}
		if c == '\n' {
			line, col = line+1, 1
		} else if c&0xC0 != 0x80 {
			col++
		}
	}
	if doc.Len() < 4*bufSize {
		t.Fatalf("the file is %d bytes: too small to cross the buffer's end often", doc.Len())
	}
	for _, whole := range []bool{true, false} {
		for _, aside := range []bool{false, true} {
			var src io.Reader = bytes.NewReader(doc.Bytes())
			how := "whole"
			if !whole {
				src, how = iotest.OneByteReader(src), "one byte at a time"
			}
			var c collect
			_, err := Read(context.Background(), src, "layout.xml", Options{Mode: ModeSnapshot, SkipDuplicateCheck: true, Aside: aside}, &c)
			if err != nil {
				t.Fatalf("%s, aside %v: %v", how, aside, err)
			}
			if len(c.memberships) != len(wants) || len(c.persons) != 300 || len(c.groups) != 40 {
				t.Fatalf("%s, aside %v: %d memberships, %d persons, %d groups; want %d, 300, 40", how, aside, len(c.memberships), len(c.persons), len(c.groups), len(wants))
			}
			for i, m := range c.memberships {
				if w := wants[i]; m.MembershipKey != w.key || m.Pos.Line != w.line || m.Pos.Column != w.col {
					t.Fatalf("%s, aside %v: membership %d is %v at %d:%d, want %v at %d:%d", how, aside, i, m.MembershipKey, m.Pos.Line, m.Pos.Column, w.key, w.line, w.col)
				}
			}
			if n := c.persons[299].Name; n != "Håkon Ødegård\t299" {
				t.Errorf("%s, aside %v: the last person's name %q, want %q", how, aside, n, "Håkon Ødegård\t299")
			}
		}
	}
}
