package lis

import (
	"strings"

	"github.com/imsfeed/imsfeed/live"
	"github.com/imsfeed/imsfeed/live/soap"
	"github.com/imsfeed/imsfeed/record"
)

// LIS 2.0 data ↔ records. Every field becomes the attribute the IMS Enterprise 1.1 reader
// (importer/ims) and the IMS ES 1.0 dialect make of the same field, so that one value has one
// meaning whichever channel it came by. Real traffic is read leniently: element names are
// matched without regard to case, and a value may be bare text or wrapped in
// <language>/<textString>.

// text is n's value: its <textString> child's text, else its own.
func text(n *soap.Node) string {
	if n == nil {
		return ""
	}
	if t := kid(n, "textString"); t != nil {
		return t.Str()
	}
	return n.Str()
}

// vocab is the value of a vocabulary-typed element (nameType, partName, contactinfoType,
// institutionroletype): instanceValue, else instanceName, else instanceIdentifier.
func vocab(n *soap.Node) string {
	for _, k := range []string{"instanceValue", "instanceName", "instanceIdentifier"} {
		if v := text(kid(n, k)); v != "" {
			return v
		}
	}
	return text(n)
}

// kid is n's first child of this local name, any case.
func kid(n *soap.Node, local string) *soap.Node {
	if n == nil {
		return nil
	}
	for _, k := range n.Kids {
		if strings.EqualFold(k.Local, local) {
			return k
		}
	}
	return nil
}

func kids(n *soap.Node, local string) []*soap.Node {
	if n == nil {
		return nil
	}
	var out []*soap.Node
	for _, k := range n.Kids {
		if strings.EqualFold(k.Local, local) {
			out = append(out, k)
		}
	}
	return out
}

// partNames maps LIS 2.0 partName names to the 1.1 <n> children.
var partNames = map[string]string{
	"first": "given", "given": "given", "last": "family", "family": "family", "surname": "family",
	"middle": "other", "other": "other", "prefix": "prefix", "suffix": "suffix",
}

// The preferred names' attributes (the 1.1 reader puts <nickname> into the first).
const (
	PreferredFirst = record.PreferredFirst
	PreferredLast  = record.PreferredLast
)

var genderCode = map[string]string{"female": "1", "f": "1", "male": "2", "m": "2", "unknown": "0", "u": "0"}

// preferred is a request's preferred-name block: which names it has and their values (empty
// to delete one).
type preferred struct {
	block             bool
	hasFirst, hasLast bool
	first, last       string
}

// isPreferred: a <name> whose nameType says Preferred.
func isPreferred(name *soap.Node) bool {
	return strings.Contains(strings.ToLower(vocab(kid(name, "nameType"))), "prefer")
}

// personFrom reads a LIS 2.0 <person> into a record, the fields it carries (for an update)
// and the attributes a replace keeps from the stored person.
//
// Preferred names follow D2L's rules: a block with both names sets both; with one name sets
// that one and keeps the other; an empty name deletes it; no block at all deletes both. The
// block is a <name> of nameType Preferred; lacking one, a Nickname part of the name is a
// block with the first name only (as the 1.1 reader reads <nickname>).
func personFrom(key string, n *soap.Node, action live.Action) (*record.Person, []string, []string) {
	p := &record.Person{Key: key}
	var a record.Attrs
	var carried []string
	var given, family, fn string
	var uids record.UserIDs
	var pref preferred
	var nickname *string
	mainName := false
	for _, c := range n.Kids {
		switch strings.ToLower(c.Local) {
		case "formname":
			if v := text(kid(c, "formattedName")); v != "" && fn == "" {
				fn = v
			}
			carried = append(carried, "@name")
		case "name":
			if isPreferred(c) {
				pref.block = true
				for _, part := range kids(c, "partName") {
					switch partNames[strings.ToLower(text(kid(part, "instanceName")))] {
					case "given":
						pref.hasFirst, pref.first = true, text(kid(part, "instanceValue"))
					case "family":
						pref.hasLast, pref.last = true, text(kid(part, "instanceValue"))
					}
				}
				continue
			}
			if mainName {
				continue // one name is the person's name; other name types are not stored
			}
			mainName = true
			carried = append(carried, "@name", "name.given", "name.family", "name.other", "name.prefix", "name.suffix", "name.partname")
			for _, part := range kids(c, "partName") {
				t := text(kid(part, "instanceName"))
				if t == "" {
					t = text(kid(part, "instanceIdentifier"))
				}
				v := text(kid(part, "instanceValue"))
				switch lt := strings.ToLower(t); {
				case lt == "nickname" || lt == "preferredfirst" || lt == "preferredfirstname":
					nickname = &v
				case lt == "preferredlast" || lt == "preferredlastname":
					pref.block, pref.hasLast, pref.last = true, true, v
				case partNames[lt] != "":
					if partNames[lt] == "given" && given == "" {
						given = v
					}
					if partNames[lt] == "family" && family == "" {
						family = v
					}
					a.Add("name."+partNames[lt], v)
				default:
					if t == "" {
						t = "other"
					}
					a.Add("name.partname."+t, v)
				}
			}
		case "contactinfo":
			t := strings.ToLower(vocab(kid(c, "contactinfoType")))
			v := text(kid(c, "contactinfoValue"))
			switch {
			case strings.Contains(t, "email"):
				if a.Get("email") == "" {
					carried = append(carried, "email")
					a.Add("email", v)
				}
			case strings.Contains(t, "mobile"):
				carried = append(carried, "tel.mobile")
				a.Add("tel.mobile", v)
			case strings.Contains(t, "fax"):
				carried = append(carried, "tel.fax")
				a.Add("tel.fax", v)
			case strings.Contains(t, "pager"):
				carried = append(carried, "tel.pager")
				a.Add("tel.pager", v)
			case strings.Contains(t, "phone"):
				carried = append(carried, "tel.voice")
				a.Add("tel.voice", v)
			case strings.Contains(t, "web") || strings.Contains(t, "url"):
				carried = append(carried, "url")
				a.Add("url", v)
			default:
				if t == "" {
					t = "other"
				}
				carried = append(carried, "contactinfo."+t)
				a.Add("contactinfo."+t, v)
			}
		case "demographics":
			carried = append(carried, "demographics")
			if g := vocab(kid(c, "gender")); g != "" {
				if code, ok := genderCode[strings.ToLower(g)]; ok {
					g = code
				}
				a.Add("demographics.gender", g)
			}
			b := text(kid(c, "bday"))
			if b == "" {
				b = text(kid(c, "birthDate"))
			}
			if d, t, ok := strings.Cut(b, "T"); ok && strings.HasPrefix(t, "00:00:00") {
				b = d // a dateTime at midnight is the day itself
			}
			a.Add("demographics.bday", b)
		case "roles":
			for _, r := range c.Kids {
				switch strings.ToLower(r.Local) {
				case "institutionrole":
					carried = append(carried, "institutionrole")
					t := vocab(kid(r, "institutionroletype"))
					a.Add("institutionrole", t)
					if pr := strings.ToLower(text(kid(r, "primaryroletype"))); pr == "true" || pr == "1" || pr == "yes" {
						a.Add("institutionrole.primary", t)
					}
				case "userid":
					carried = append(carried, "userid", "@secret")
					pw := kid(r, "password")
					var pwText string
					if pw != nil {
						pwText = text(pw)
					}
					uids.Add(&a, text(kid(r, "userIdType")), text(kid(r, "userIdValue")), pwText, pw != nil)
				}
			}
		case "extension":
			for _, f := range kids(c, "extensionField") {
				name := text(kid(f, "fieldName"))
				if name == "" {
					continue
				}
				a.Add("extension."+name, text(kid(f, "fieldValue")))
				carried = append(carried, "extension."+name)
			}
		}
	}
	if !pref.block && nickname != nil {
		pref = preferred{block: true, hasFirst: true, first: *nickname}
	}
	var keep []string
	if pref.block {
		if pref.hasFirst {
			a.Add(PreferredFirst, pref.first)
			carried = append(carried, PreferredFirst)
		} else {
			keep = append(keep, PreferredFirst)
		}
		if pref.hasLast {
			a.Add(PreferredLast, pref.last)
			carried = append(carried, PreferredLast)
		} else {
			keep = append(keep, PreferredLast)
		}
	} else if action != live.Update {
		// No block: both go (a replace stores none; nothing is kept).
		carried = append(carried, PreferredFirst, PreferredLast)
	}
	p.Secret = uids.Finish(&a)
	p.Name = fn
	if p.Name == "" {
		p.Name = strings.TrimSpace(given + " " + family)
	}
	a.Sort()
	p.Attrs = a
	p.ComputeHash()
	return p, carried, keep
}

// typeValues reads a LIS 2.0 <groupType>: scheme and typevalue(s) with their level.
func typeValues(c *soap.Node) []record.GroupType {
	var out []record.GroupType
	scheme := text(kid(c, "scheme"))
	for _, tv := range kids(c, "typevalue") {
		v := text(kid(tv, "type"))
		if v == "" {
			v = text(kid(tv, "id"))
		}
		if v == "" && len(tv.Kids) == 0 {
			v = tv.Str()
		}
		if v != "" {
			out = append(out, record.GroupType{Scheme: scheme, Value: v, Level: text(kid(tv, "level"))})
		}
	}
	return out
}

// leaves adds each child of n with a value as "<prefix>.<lower-case local name>", as the 1.1
// reader names the children of <timeframe> and <org>.
func leaves(a *record.Attrs, prefix string, n *soap.Node) {
	for _, k := range n.Kids {
		a.Add(prefix+"."+strings.ToLower(k.Local), text(k))
	}
}

func addParent(g *record.Group, key, pk string) {
	if pk == "" {
		return
	}
	if pk == key {
		g.SelfParent = true
		return
	}
	for _, x := range g.Parents {
		if x == pk {
			return
		}
	}
	g.Parents = append(g.Parents, pk)
}

func finishGroup(g *record.Group, a record.Attrs, short, long, full string) {
	switch {
	case short != "":
		g.Name = short
	case long != "":
		g.Name = long
	default:
		g.Name = full
	}
	a.Sort()
	g.Attrs = a
	g.ComputeHash()
}

// groupFrom reads a LIS 2.0 GMS <group> (a term, an org unit).
func groupFrom(key string, n *soap.Node) (*record.Group, []string) {
	g := &record.Group{Key: key}
	var a record.Attrs
	var carried []string
	var short, long, full string
	for _, c := range n.Kids {
		switch strings.ToLower(c.Local) {
		case "grouptype":
			carried = append(carried, "@types")
			g.Types = append(g.Types, typeValues(c)...)
		case "description":
			carried = append(carried, "@name", "description")
			short, long, full = text(kid(c, "shortDescription")), text(kid(c, "longDescription")), text(kid(c, "fullDescription"))
			a.Add("description.short", short)
			a.Add("description.long", long)
			a.Add("description.full", full)
		case "relationship":
			carried = append(carried, "@parents")
			if rel := strings.ToLower(vocab(kid(c, "relation"))); rel != "parent" && rel != "1" {
				continue
			}
			addParent(g, key, text(kid(c, "sourcedId")))
		case "timeframe":
			carried = append(carried, "timeframe")
			leaves(&a, "timeframe", c)
		case "org":
			carried = append(carried, "org")
			leaves(&a, "org", c)
		case "email", "url":
			carried = append(carried, strings.ToLower(c.Local))
			a.Add(strings.ToLower(c.Local), text(c))
		case "extension":
			for _, f := range kids(c, "extensionField") {
				if name := text(kid(f, "fieldName")); name != "" {
					a.Add("extension."+name, text(kid(f, "fieldValue")))
					carried = append(carried, "extension."+name)
				}
			}
		}
	}
	finishGroup(g, a, short, long, full)
	return g, carried
}

// courseFrom reads a LIS 2.0 CMS <courseSection> or <courseOffering> as a group of type
// CourseSection or CourseOffering: label is the short name, title the long one, the catalog
// description the full one; its term (academicSession) and, for a section, its offering
// (parentOfferingId) are its parents, in that order.
func courseFrom(key string, n *soap.Node, k kind) (*record.Group, []string) {
	g := &record.Group{Key: key, Types: []record.GroupType{{Value: groupType[k]}}}
	var a record.Attrs
	carried := []string{"@types", "@parents", "@name", "description"}
	var short, long, full string
	var term, offering string
	for _, c := range n.Kids {
		switch l := strings.ToLower(c.Local); l {
		case "label":
			short = text(c)
		case "title":
			long = text(c)
		case "catalogdescription":
			full = text(kid(c, "longDescription"))
			if full == "" {
				full = text(kid(c, "shortDescription"))
			}
		case "academicsession":
			term = text(c)
		case "parentofferingid":
			offering = text(c)
		case "timeframe":
			carried = append(carried, "timeframe")
			for _, t := range c.Kids {
				if lt := strings.ToLower(t.Local); lt == "begin" || lt == "end" {
					a.Add("timeframe."+lt, text(t))
				}
			}
		case "org":
			carried = append(carried, "org")
			leaves(&a, "org", c)
		default:
			carried = courseExtra(c, &a, carried)
		}
	}
	a.Add("description.short", short)
	a.Add("description.long", long)
	a.Add("description.full", full)
	addParent(g, key, term)
	addParent(g, key, offering)
	finishGroup(g, a, short, long, full)
	return g, carried
}

// courseExtra reads a child of a course or section association that has no field of its own:
// its extension fields, and other leaves (credits, location, meeting, maximum students) kept as
// extension fields, as a nightly file's <extension> children are; the record's status and
// origin are not stored. It returns carried with what it read.
func courseExtra(c *soap.Node, a *record.Attrs, carried []string) []string {
	switch strings.ToLower(c.Local) {
	case "extension":
		for _, f := range kids(c, "extensionField") {
			if name := text(kid(f, "fieldName")); name != "" {
				a.Add("extension."+name, text(kid(f, "fieldValue")))
				carried = append(carried, "extension."+name)
			}
		}
	case "status", "datasource", "sourcedguid":
	default:
		if len(c.Kids) == 0 || kid(c, "textString") != nil {
			carried = append(carried, "extension."+c.Local)
			a.Add("extension."+c.Local, text(c))
		}
	}
	return carried
}

// associationFrom reads a LIS 2.0 CMS <sectionAssociation> (cross-listed course sections) as a
// group of type SectionAssociation and the sections it groups (its children): label is the
// short name, title the long one; the record's <type> (Banner ILP: meta, merge) is the
// attribute association.type; other leaves are extension fields, as for courses.
func associationFrom(key string, n, rec *soap.Node) (*record.Group, []string, []string) {
	g := &record.Group{Key: key, Types: []record.GroupType{{Value: groupType[kAssociation]}}}
	var a record.Attrs
	carried := []string{"@types", "@name", "description"}
	var short, long string
	var children []string
	if t := kid(rec, "type"); t != nil {
		carried = append(carried, "association.type")
		a.Add("association.type", text(t))
	}
	for _, c := range n.Kids {
		switch l := strings.ToLower(c.Local); l {
		case "label":
			short = text(c)
		case "title":
			long = text(c)
		case "coursesectionidlist":
			carried = append(carried, "@children")
			for _, id := range kids(c, "courseSectionId") {
				if v := text(id); v != "" {
					children = append(children, v)
				}
			}
		default:
			carried = courseExtra(c, &a, carried)
		}
	}
	a.Add("description.short", short)
	a.Add("description.long", long)
	finishGroup(g, a, short, long, "")
	return g, children, carried
}

// membershipsFrom reads a LIS 2.0 <membership>: one record per member × role.
func membershipsFrom(n *soap.Node) ([]record.Membership, []string, string) {
	group := text(kid(n, "collectionSourcedId"))
	if group == "" {
		return nil, nil, "membership without collectionSourcedId"
	}
	var out []record.Membership
	var carried []string
	for _, m := range kids(n, "member") {
		member := text(kid(m, "personSourcedId"))
		if member == "" {
			return nil, nil, "member without personSourcedId"
		}
		roles := kids(m, "role")
		if len(roles) == 0 {
			return nil, nil, "member " + member + " without a role"
		}
		for _, r := range roles {
			rt := vocab(kid(r, "roleType"))
			code, ok := record.NormalizeRole(rt)
			if !ok {
				return nil, nil, "member " + member + ": unknown role \"" + rt + "\""
			}
			ms := record.Membership{MembershipKey: record.MembershipKey{Group: group, Member: member, Role: code}, MemberType: record.MemberPerson}
			switch strings.ToLower(text(kid(r, "status"))) {
			case "0", "inactive":
				ms.Inactive = true
			}
			var a record.Attrs
			for _, c := range r.Kids {
				switch strings.ToLower(c.Local) {
				case "subrole":
					carried = append(carried, "subrole")
					a.Add("subrole", text(c))
				case "timeframe":
					carried = append(carried, "timeframe")
					for _, t := range c.Kids {
						if lt := strings.ToLower(t.Local); lt == "begin" || lt == "end" {
							a.Add("timeframe."+lt, text(t))
						}
					}
				case "extension":
					for _, f := range kids(c, "extensionField") {
						if name := text(kid(f, "fieldName")); name != "" {
							a.Add("extension."+name, text(kid(f, "fieldValue")))
							carried = append(carried, "extension."+name)
						}
					}
				}
			}
			a.Sort()
			ms.Attrs = a
			ms.ComputeHash()
			out = append(out, ms)
		}
	}
	if len(out) == 0 {
		return nil, nil, "membership without a member"
	}
	return out, carried, ""
}
