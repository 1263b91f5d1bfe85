package ims

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"slices"
	"strings"

	"github.com/imsfeed/imsfeed/record"
)

// Turning the tree of one record into Person, Group and Membership records.

// beginRecord starts a child of <enterprise>; the arenas are reset, so memory is per record.
func (p *parser) beginRecord(local string) {
	if err := p.ctx.Err(); err != nil {
		panic(fatal{fmt.Errorf("read %s: %w", p.file, err)})
	}
	p.nodes = p.nodes[:0]
	p.attrs = p.attrs[:0]
	p.text = p.text[:0]
	p.inRec = true
	p.isProps = local == "properties"
	switch local {
	case "person":
		p.rec = record.Persons
	case "group":
		p.rec = record.Groups
	case "membership":
		p.rec = record.Memberships
		p.mGroup, p.mGroupSet, p.mMembers = "", false, 0
	}
	if !p.isProps {
		p.records++
		if !p.modeSet {
			p.modeSet = true
			p.res.Mode = p.effectiveMode()
			p.dupCheck = p.res.Mode == ModeSnapshot && !p.opts.SkipDuplicateCheck
		}
	}
}

func (p *parser) effectiveMode() Mode {
	switch p.opts.Mode {
	case ModeEvent:
		return ModeEvent
	case ModeAuto:
		if strings.EqualFold(p.res.Properties.Type, "delta") {
			return ModeEvent
		}
	}
	return ModeSnapshot
}

func (p *parser) endRecord(n int32) {
	p.inRec = false
	if p.isProps {
		p.res.Properties = Properties{
			DataSource: p.str(p.child(n, "datasource")),
			Type:       p.str(p.child(n, "type")),
			DateTime:   p.str(p.child(n, "datetime")),
		}
		return
	}
	p.build(n, -1)
}

// build turns the record at root (or, with member >= 0, one <member> of a membership) into
// records, here or aside.
func (p *parser) build(root, member int32) {
	if p.aside != nil {
		p.aside.handOff(root, member)
		return
	}
	p.builder.build(root, member)
}

// build turns the record at root of the builder's tree into records: with member >= 0, that
// <member> of a membership; a membership's root itself, the members not yet built (its key
// came after them) and its end.
func (p *builder) build(root, member int32) {
	switch {
	case p.rec == record.Persons:
		p.person(root)
	case p.rec == record.Groups:
		p.group(root)
	case member >= 0:
		p.member(root, member)
	default:
		p.endMembership(root)
	}
}

// recKey is the key of the record being read, as far as it is known: a membership's group
// once read, a person's or group's sourcedid once its <id> has ended ("" before that, and
// outside records). Errors and warnings name it.
func (p *parser) recKey() string {
	switch {
	case !p.inRec || p.isProps:
		return ""
	case p.rec == record.Memberships && p.mGroupSet:
		return p.mGroup
	case len(p.nodes) > 0: // the record's element is its first node
		return p.sourcedidKey(0)
	}
	return ""
}

// --- tree access ---

func (p *builder) child(n int32, local string) int32 {
	if n < 0 {
		return -1
	}
	for c := p.nodes[n].first; c >= 0; c = p.nodes[c].next {
		if p.nodes[c].local == local {
			return c
		}
	}
	return -1
}

// str is the trimmed text of node n ("" for n < 0).
func (p *builder) str(n int32) string {
	if n < 0 {
		return ""
	}
	nd := &p.nodes[n]
	b := bytes.TrimSpace(p.text[nd.t0:nd.t1])
	if len(b) == 0 {
		return ""
	}
	return string(b)
}

// attr is the trimmed value of attribute local on n.
func (p *builder) attr(n int32, local string) string {
	if n < 0 {
		return ""
	}
	nd := &p.nodes[n]
	for _, a := range p.attrs[nd.a0:nd.a1] {
		if a.local == local {
			return string(bytes.TrimSpace(p.text[a.v0:a.v1]))
		}
	}
	return ""
}

func (p *builder) at(n int32) (int, int) { return int(p.nodes[n].line), int(p.nodes[n].col) }

// sourcedid picks the key of n: the sourcedid marked sourcedidtype "New", else the first.
func (p *builder) sourcedid(n int32) (key, source string) {
	c := p.sourcedidNode(n)
	return p.str(p.child(c, "id")), p.str(p.child(c, "source"))
}

// sourcedidKey is sourcedid's key alone: a member's source is never used, and a file has
// millions of members.
func (p *builder) sourcedidKey(n int32) string {
	return p.str(p.child(p.sourcedidNode(n), "id"))
}

// sourcedidNode is the sourcedid element sourcedid reads (-1: none).
func (p *builder) sourcedidNode(n int32) int32 {
	chosen := int32(-1)
	for c := p.nodes[n].first; c >= 0; c = p.nodes[c].next {
		if p.nodes[c].local != "sourcedid" {
			continue
		}
		if chosen < 0 {
			chosen = c
		}
		t := p.attr(c, "sourcedidtype")
		if t == "" {
			t = p.str(p.child(c, "sourcedidtype"))
		}
		if strings.EqualFold(t, "new") {
			chosen = c
			break
		}
	}
	return chosen
}

// recstatus reads the recstatus attribute; ok is false for a value other than 1, 2 or 3.
func (p *builder) recstatus(n int32) (record.RecStatus, string, bool) {
	switch v := p.attr(n, "recstatus"); v {
	case "":
		return record.StatusAbsent, v, true
	case "1":
		return record.StatusAdd, v, true
	case "2":
		return record.StatusUpdate, v, true
	case "3":
		return record.StatusDelete, v, true
	default:
		return 0, v, false
	}
}

// leaves adds each text child of n as "<prefix>.<child>".
func (p *builder) leaves(a *record.Attrs, prefix string, n int32) {
	for c := p.nodes[n].first; c >= 0; c = p.nodes[c].next {
		if p.nodes[c].first < 0 {
			a.Add(prefix+"."+p.nodes[c].local, p.str(c))
		}
	}
}

// extension adds the vendor extension below n as "extension.<path>" (and "<path>@<attr>").
func (p *builder) extension(a *record.Attrs, prefix string, n int32) {
	nd := &p.nodes[n]
	for _, at := range p.attrs[nd.a0:nd.a1] {
		if SecretName(at.local) {
			continue // never stored: a password in clear
		}
		a.Add(prefix+"@"+at.local, string(bytes.TrimSpace(p.text[at.v0:at.v1])))
	}
	if nd.first < 0 {
		a.Add(prefix, p.str(n))
		return
	}
	for c := nd.first; c >= 0; c = p.nodes[c].next {
		if p.rec == record.Persons && prefix == "extension" && p.nodes[c].local == contactPerson {
			continue // a relation, a record of its own (contactPersons)
		}
		p.extension(a, prefix+"."+p.nodes[c].local, c)
	}
}

var telTypes = map[string]string{"1": "voice", "2": "fax", "3": "mobile", "4": "pager"}

func (p *builder) skip(t record.Type, line, col int, key, group, member, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	wkey := key
	if t == record.Memberships {
		wkey = group + "/" + member
	}
	p.warn(line, col, wkey, "%s %s; skipped", strings.TrimSuffix(t.String(), "s"), msg)
	p.res.Skipped = append(p.res.Skipped, Skipped{Type: t, Key: key, Group: group, Member: member, Line: line, Column: col})
}

// checkDup fails on the second record of one type and key in a snapshot.
func (p *builder) checkDup(t record.Type, key string, line, col int) {
	if !p.dupCheck {
		return
	}
	if first, ok := p.seen[t].add(maphash.String(p.seed, key), line); !ok {
		what := strings.TrimSuffix(t.String(), "s")
		p.failAt(line, col, key, "duplicate %s key: a snapshot file must list each %s once; first at line %d", what, what, first)
	}
}

func (p *builder) handlerErr(err error, line, col int, key string) {
	if err != nil {
		panic(fatal{fmt.Errorf("%s:%d:%d: record %s: %w", p.file, line, col, clip(key, keyMax), err)})
	}
}

// keepAttrs copies a record's attributes, gathered in the parser's buffer (a), into a slice
// of their own, nil when there are none; the buffer is kept for the next record. One
// allocation of the right size per record, not a slice grown one attribute at a time.
func (p *builder) keepAttrs(a record.Attrs) record.Attrs {
	p.attrBuf = a[:0]
	if len(a) == 0 {
		return nil
	}
	return slices.Clone(a)
}

// --- person ---

func (p *builder) person(n int32) {
	line, col := p.at(n)
	key, source := p.sourcedid(n)
	if key == "" {
		p.skip(record.Persons, line, col, "", "", "", "without sourcedid/id")
		return
	}
	rs, v, ok := p.recstatus(n)
	if !ok {
		p.skip(record.Persons, line, col, key, "", "", "with invalid recstatus %q", clip(v, quoteMax))
		return
	}
	per := &record.Person{Pos: record.Pos{Line: line, Column: col}, Key: key, Source: source, RecStatus: rs}
	a := p.attrBuf[:0]
	var given, family string
	var uids record.UserIDs
	var rels []*record.Relation
	for c := p.nodes[n].first; c >= 0; c = p.nodes[c].next {
		switch p.nodes[c].local {
		case "name":
			per.Name = p.str(p.child(c, "fn"))
			for d := p.nodes[c].first; d >= 0; d = p.nodes[d].next {
				switch l := p.nodes[d].local; l {
				case "n":
					for e := p.nodes[d].first; e >= 0; e = p.nodes[e].next {
						switch el := p.nodes[e].local; el {
						case "partname":
							t := p.attr(e, "partnametype")
							if t == "" {
								t = "other"
							}
							a.Add("name.partname."+t, p.str(e))
						case "given":
							given = p.str(e)
							a.Add("name.given", given)
						case "family":
							family = p.str(e)
							a.Add("name.family", family)
						default:
							a.Add("name."+el, p.str(e))
						}
					}
				case "nickname":
					// The preferred first name, as the live channels store it (LIS 2.0's
					// preferred-name block, IMS ES's Nickname part).
					a.Add(record.PreferredFirst, p.str(d))
				case "sort":
					a.Add("name."+l, p.str(d))
				}
			}
		case "userid":
			uid := p.str(c)
			t := p.attr(c, "useridtype")
			pw, has := p.attrRaw(c, "password")
			uids.Add(&a, t, uid, pw, has)
		case "email":
			a.Add("email", p.str(c))
		case "url":
			a.Add("url", p.str(c))
		case "tel":
			t := p.attr(c, "teltype")
			if w, ok := telTypes[t]; ok {
				t = w
			} else if t == "" {
				t = "voice"
			} else {
				t = strings.ToLower(t)
			}
			a.Add("tel."+t, p.str(c))
		case "adr":
			p.leaves(&a, "adr", c)
		case "demographics":
			p.leaves(&a, "demographics", c)
		case "org":
			p.leaves(&a, "org", c)
		case "photo":
			a.Add("photo", p.str(p.child(c, "extref")))
		case "institutionrole":
			t := p.attr(c, "institutionroletype")
			a.Add("institutionrole", t)
			if strings.EqualFold(p.attr(c, "primaryrole"), "yes") {
				a.Add("institutionrole.primary", t)
			}
		case "systemrole":
			a.Add("systemrole", p.attr(c, "systemroletype"))
		case "extension":
			p.extension(&a, "extension", c)
			rels = p.contactPersons(rels, c, key)
		}
	}
	per.Secret = uids.Finish(&a)
	if per.Name == "" {
		per.Name = strings.TrimSpace(given + " " + family)
	}
	p.mapped(&a, record.Persons, n, -1, -1)
	for _, k := range p.related(n) {
		rels = append(rels, &record.Relation{Pos: per.Pos, RelationKey: k})
	}
	a.Sort()
	per.Attrs = p.keepAttrs(a)
	per.ComputeHash()
	p.checkDup(record.Persons, key, line, col)
	p.handlerErr(p.h.Person(per), line, col, key)
	p.res.Counts[record.Persons]++
	if !per.Gone() {
		p.relations(per, rels)
	}
}

// contactPerson is the PIFU-IMS element naming a related person in a person's <extension>:
// <pifu_hasContactPerson type="guardian"><sourcedid>…</sourcedid></pifu_hasContactPerson>.
const contactPerson = "pifu_hasContactPerson"

// contactPersons reads the PIFU-IMS relations of <extension> node ext; one without a type or a
// related id is skipped with a warning and keeps the person's stored relations.
func (p *builder) contactPersons(rels []*record.Relation, ext int32, person string) []*record.Relation {
	for c := p.nodes[ext].first; c >= 0; c = p.nodes[c].next {
		if p.nodes[c].local != contactPerson {
			continue
		}
		line, col := p.at(c)
		typ := p.attr(c, "type")
		if typ == "" {
			typ = p.str(p.child(c, "type"))
		}
		related, source := p.sourcedid(c)
		if typ == "" || related == "" {
			what := "without a type"
			if related == "" {
				what = "without sourcedid/id"
			}
			p.warn(line, col, person, "%s %s; relation skipped, the person's stored relations kept", contactPerson, what)
			p.res.Skipped = append(p.res.Skipped, Skipped{Type: record.Relations, Key: person, Line: line, Column: col})
			continue
		}
		r := &record.Relation{Pos: record.Pos{Line: line, Column: col}, RelationKey: record.RelationKey{Related: related, Type: typ}}
		r.Attrs.Add("source", source)
		rels = append(rels, r)
	}
	return rels
}

// relations hands a person's relations to the handler, each (related person, type) once; a
// person named as their own relation is skipped with a warning.
func (p *builder) relations(per *record.Person, rels []*record.Relation) {
	if len(rels) == 0 {
		return
	}
	rh, _ := p.h.(RelationHandler)
	seen := make(map[record.RelationKey]bool, len(rels))
	for _, r := range rels {
		r.Person = per.Key
		if seen[r.RelationKey] {
			continue
		}
		seen[r.RelationKey] = true
		if r.Related == per.Key {
			p.warn(r.Pos.Line, r.Pos.Column, per.Key, "person names itself as its %s; relation skipped", clip(r.Type, quoteMax))
			continue
		}
		r.Attrs.Sort()
		r.ComputeHash()
		if rh != nil {
			p.handlerErr(rh.Relation(r), r.Pos.Line, r.Pos.Column, r.RelationKey.String())
		}
		p.res.Counts[record.Relations]++
	}
}

// attrRaw is an attribute's untrimmed value and whether it is present.
func (p *builder) attrRaw(n int32, local string) (string, bool) {
	nd := &p.nodes[n]
	for _, a := range p.attrs[nd.a0:nd.a1] {
		if a.local == local {
			return string(p.text[a.v0:a.v1]), true
		}
	}
	return "", false
}

// --- group ---

func (p *builder) group(n int32) {
	line, col := p.at(n)
	key, source := p.sourcedid(n)
	if key == "" {
		p.skip(record.Groups, line, col, "", "", "", "without sourcedid/id")
		return
	}
	rs, v, ok := p.recstatus(n)
	if !ok {
		p.skip(record.Groups, line, col, key, "", "", "with invalid recstatus %q", clip(v, quoteMax))
		return
	}
	g := &record.Group{Pos: record.Pos{Line: line, Column: col}, Key: key, Source: source, RecStatus: rs}
	a := p.attrBuf[:0]
	var short, long, full string
	for c := p.nodes[n].first; c >= 0; c = p.nodes[c].next {
		switch l := p.nodes[c].local; l {
		case "grouptype":
			scheme := p.str(p.child(c, "scheme"))
			for d := p.nodes[c].first; d >= 0; d = p.nodes[d].next {
				if p.nodes[d].local == "typevalue" {
					if tv := p.str(d); tv != "" {
						g.Types = append(g.Types, record.GroupType{Scheme: scheme, Value: tv, Level: p.attr(d, "level")})
					}
				}
			}
		case "description":
			short = p.str(p.child(c, "short"))
			long = p.str(p.child(c, "long"))
			full = p.str(p.child(c, "full"))
			a.Add("description.short", short)
			a.Add("description.long", long)
			a.Add("description.full", full)
		case "relationship":
			rel := p.attr(c, "relation")
			if rel == "" {
				rel = p.str(p.child(c, "relation"))
			}
			if rel != "" && rel != "1" {
				continue // only parents (relation 1) make the hierarchy
			}
			pk := p.sourcedidKey(c)
			if pk == "" {
				l2, c2 := p.at(c)
				p.warn(l2, c2, key, "parent relationship without sourcedid/id ignored")
				continue
			}
			if pk == key {
				g.SelfParent = true
				continue
			}
			dup := false
			for _, x := range g.Parents {
				dup = dup || x == pk
			}
			if !dup {
				g.Parents = append(g.Parents, pk)
			}
		case "timeframe", "org", "enrollcontrol":
			p.leaves(&a, l, c)
		case "email", "url":
			a.Add(l, p.str(c))
		case "extension":
			p.extension(&a, "extension", c)
		}
	}
	switch {
	case short != "":
		g.Name = short
	case long != "":
		g.Name = long
	default:
		g.Name = full
	}
	p.mapped(&a, record.Groups, n, -1, -1)
	a.Sort()
	g.Attrs = p.keepAttrs(a)
	g.ComputeHash()
	p.checkDup(record.Groups, key, line, col)
	p.handlerErr(p.h.Group(g), line, col, key)
	p.res.Counts[record.Groups]++
}

// --- membership ---

// membershipChild sees each child of <membership> as it closes: once the group key is known,
// a <member> is turned into records at once and its subtree dropped, so a membership with
// thousands of members stays small.
func (p *parser) membershipChild(c int32) {
	nd := &p.nodes[c]
	if nd.local != "member" {
		return
	}
	p.mMembers++
	root := nd.parent
	if !p.mGroupSet {
		if p.child(root, "sourcedid") < 0 {
			return // unusual order: handled when the membership closes
		}
		p.setGroup(root)
	}
	p.build(root, c)
	// drop the member's subtree: it is the last child and the newest nodes
	prev := nd.prev
	if prev >= 0 {
		p.nodes[prev].next = -1
	} else {
		p.nodes[root].first = -1
	}
	p.nodes[root].last = prev
	p.attrs = p.attrs[:nd.a0]
	p.text = p.text[:nd.tm]
	p.nodes = p.nodes[:c]
}

func (p *builder) setGroup(root int32) {
	p.mGroup = p.sourcedidKey(root)
	p.mGroupSet = true
}

func (p *builder) endMembership(root int32) {
	if !p.mGroupSet {
		p.setGroup(root)
	}
	for c := p.nodes[root].first; c >= 0; c = p.nodes[c].next {
		if p.nodes[c].local == "member" {
			p.member(root, c)
		}
	}
	if p.mMembers == 0 {
		line, col := p.at(root)
		if p.mGroup == "" {
			p.warn(line, col, "", "membership without sourcedid/id and without members ignored")
			return
		}
		p.res.EmptyMemberships = append(p.res.EmptyMemberships, p.mGroup)
		p.warn(line, col, p.mGroup, "membership without any member (the IMS schema requires one): the group's memberships are left as they are")
	}
}

// member turns one <member> into one Membership per role.
func (p *builder) member(root, m int32) {
	line, col := p.at(m)
	group := p.mGroup
	mkey := p.sourcedidKey(m)
	if group == "" {
		p.skip(record.Memberships, line, col, "", group, mkey, "without group sourcedid/id")
		return
	}
	if mkey == "" {
		p.skip(record.Memberships, line, col, "", group, mkey, "without member sourcedid/id")
		return
	}
	idt := ""
	if c := p.child(m, "idtype"); c >= 0 {
		idt = p.str(c)
		if idt == "" {
			idt = p.attr(c, "idtype")
		}
	} else {
		idt = p.attr(m, "idtype")
	}
	var mt record.MemberType
	switch idt {
	case "", "1":
		mt = record.MemberPerson
	case "2":
		mt = record.MemberGroup
	default:
		p.skip(record.Memberships, line, col, "", group, mkey, "with unknown idtype %q", clip(idt, quoteMax))
		return
	}
	roles := 0
	for r := p.nodes[m].first; r >= 0; r = p.nodes[r].next {
		if p.nodes[r].local != "role" {
			continue
		}
		roles++
		rl, rc := p.at(r)
		rt := p.attr(r, "roletype")
		if rt == "" {
			rt = p.str(p.child(r, "roletype"))
		}
		code, ok := record.NormalizeRole(rt)
		if rt == "" && mt == record.MemberGroup {
			// Group members (cross-lists, meta courses) often carry no roletype: Member.
			code, ok = "04", true
		}
		if !ok {
			if rt == "" {
				p.skip(record.Memberships, rl, rc, "", group, mkey, "role without roletype")
			} else {
				p.skip(record.Memberships, rl, rc, "", group, mkey, "with unknown role %q", clip(rt, quoteMax))
			}
			continue
		}
		// recstatus may sit on the role, the member or the membership.
		rs, v, ok := p.recstatus(r)
		if ok && v == "" {
			rs, v, ok = p.recstatus(m)
			if ok && v == "" {
				rs, v, ok = p.recstatus(root)
			}
		}
		if !ok {
			p.skip(record.Memberships, rl, rc, "", group, mkey, "with invalid recstatus %q", clip(v, quoteMax))
			continue
		}
		ms := &record.Membership{
			Pos:           record.Pos{Line: rl, Column: rc},
			MembershipKey: record.MembershipKey{Group: group, Member: mkey, Role: code},
			MemberType:    mt,
			RecStatus:     rs,
			Inactive:      p.str(p.child(r, "status")) == "0",
		}
		a := p.attrBuf[:0]
		for c := p.nodes[r].first; c >= 0; c = p.nodes[c].next {
			switch l := p.nodes[c].local; l {
			case "subrole":
				a.Add(l, p.str(c))
			case "timeframe":
				p.leaves(&a, l, c)
			case "extension":
				p.extension(&a, "extension", c)
			}
		}
		p.mapped(&a, record.Memberships, root, m, r)
		a.Sort()
		ms.Attrs = p.keepAttrs(a)
		ms.ComputeHash()
		// The key as an error names it, made only for an error: a file has millions of these.
		key := func() string { return group + "/" + mkey + "/" + code }
		if p.dupCheck {
			h := maphash.String(p.seed, group) ^ 0x9e3779b97f4a7c15*maphash.String(p.seed, mkey+"\x00"+code)
			if first, ok := p.seen[record.Memberships].add(h, rl); !ok {
				p.failAt(rl, rc, key(), "duplicate membership (group, member, role): a snapshot file must list each once; first at line %d", first)
			}
		}
		if err := p.h.Membership(ms); err != nil {
			p.handlerErr(err, rl, rc, key())
		}
		p.res.Counts[record.Memberships]++
	}
	if roles == 0 {
		p.skip(record.Memberships, line, col, "", group, mkey, "member without <role>")
	}
}
