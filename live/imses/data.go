package imses

import (
	"strings"

	"github.com/imsfeed/imsfeed/record"
)

// IMS ES 1.0 data ↔ records. Every field becomes the attribute the IMS Enterprise 1.1 reader
// (importer/ims) makes of the same field in a nightly file, so that one value has one meaning
// whichever channel it came by; equivalence_test.go checks that field by field.

// extension adds <extension><extensionField><fieldName>N</fieldName><fieldValue>V</fieldValue>
// as "extension.N" (what <extension><N>V</N></extension> is in a nightly file) and names each
// field as carried.
func extension(a *record.Attrs, carried *[]string, n *node) {
	for _, f := range n.Children("extensionField") {
		name := f.Child("fieldName").Str()
		if name == "" {
			continue
		}
		a.Add("extension."+name, f.Child("fieldValue").Str())
		*carried = append(*carried, "extension."+name)
	}
}

// leaves adds each text child of n as "<prefix>.<lower-case local name>", as the 1.1 reader
// names the children of <timeframe>, <org>, <enrollcontrol> and <demographics>.
func leaves(a *record.Attrs, prefix string, n *node) {
	for _, k := range n.Kids {
		if len(k.Kids) == 0 {
			a.Add(prefix+"."+strings.ToLower(k.Local), k.Str())
		}
	}
}

// namePart maps IMS ES namePartType values to the 1.1 <n> children.
var namePart = map[string]string{
	"first": "given", "given": "given", "last": "family", "family": "family",
	"middle": "other", "other": "other", "prefix": "prefix", "suffix": "suffix",
}

var genderCode = map[string]string{"female": "1", "f": "1", "male": "2", "m": "2", "unknown": "0", "u": "0"}

// personFrom reads an IMS ES <person> into a record and the fields it carries.
func personFrom(key string, n *node) (*record.Person, []string) {
	p := &record.Person{Key: key}
	var a record.Attrs
	var carried []string
	var given, family, fn string
	var uids record.UserIDs
	hadName := false
	for _, c := range n.Kids {
		switch c.Local {
		case "formatName", "formattedName":
			fn = c.Str()
			hadName = true
		case "name":
			hadName = true
			carried = append(carried, "name")
			for _, part := range c.Children("partName") {
				t := part.Child("namePartType").Str()
				v := part.Child("namePartValue").Str()
				switch lt := strings.ToLower(t); {
				case lt == "nickname":
					a.Add(record.PreferredFirst, v)
				case namePart[lt] != "":
					if namePart[lt] == "given" && given == "" {
						given = v
					}
					if namePart[lt] == "family" && family == "" {
						family = v
					}
					a.Add("name."+namePart[lt], v)
				default:
					if t == "" {
						t = "other"
					}
					a.Add("name.partname."+t, v)
				}
			}
		case "email":
			carried = append(carried, "email")
			a.Add("email", c.Str())
		case "url":
			carried = append(carried, "url")
			a.Add("url", c.Str())
		case "tel":
			carried = append(carried, "tel")
			t := strings.ToLower(c.Child("telType").Str())
			switch t {
			case "", "1":
				t = "voice"
			case "2":
				t = "fax"
			case "3":
				t = "mobile"
			case "4":
				t = "pager"
			}
			v := c.Child("telValue").Str()
			if v == "" && len(c.Kids) == 0 {
				v = c.Str()
			}
			a.Add("tel."+t, v)
		case "demographics":
			carried = append(carried, "demographics")
			if g := c.Child("gender").Str(); g != "" {
				if code, ok := genderCode[strings.ToLower(g)]; ok {
					g = code
				}
				a.Add("demographics.gender", g)
			}
			if b := c.Child("bday").Str(); b != "" {
				// xs:dateTime at midnight from generated clients is the day itself.
				if d, t, ok := strings.Cut(b, "T"); ok && strings.HasPrefix(t, "00:00:00") {
					b = d
				}
				a.Add("demographics.bday", b)
			}
		case "userId":
			carried = append(carried, "userid", "@secret")
			uid := c.Child("userIdValue").Str()
			t := c.Child("userIdType").Str()
			pw := c.Child("passWord")
			if pw == nil {
				pw = c.Child("password")
			}
			var pwText string
			if pw != nil {
				pwText = pw.Text
			}
			uids.Add(&a, t, uid, pwText, pw != nil)
		case "institutionRole":
			carried = append(carried, "institutionrole")
			t := c.Child("institutionRoleType").Str()
			a.Add("institutionrole", t)
			if pr := strings.ToLower(c.Child("primaryRoleType").Str()); pr == "true" || pr == "1" || pr == "yes" {
				a.Add("institutionrole.primary", t)
			}
		case "systemRole":
			carried = append(carried, "systemrole")
			a.Add("systemrole", c.Child("systemRoleType").Str())
		case "extension":
			extension(&a, &carried, c)
		}
	}
	p.Secret = uids.Finish(&a)
	if hadName {
		carried = append(carried, "@name")
	}
	p.Name = fn
	if p.Name == "" {
		p.Name = strings.TrimSpace(given + " " + family)
	}
	a.Sort()
	p.Attrs = a
	p.ComputeHash()
	return p, carried
}

// groupFrom reads an IMS ES <group>.
func groupFrom(key string, n *node) (*record.Group, []string) {
	g := &record.Group{Key: key}
	var a record.Attrs
	var carried []string
	var short, long, full string
	for _, c := range n.Kids {
		switch c.Local {
		case "groupType":
			carried = append(carried, "@types")
			scheme := c.Child("scheme").Str()
			for _, tv := range c.Children("typeValue") {
				v := tv.Child("type").Str()
				if v == "" && len(tv.Kids) == 0 {
					v = tv.Str()
				}
				if v != "" {
					g.Types = append(g.Types, record.GroupType{Scheme: scheme, Value: v, Level: tv.Child("level").Str()})
				}
			}
		case "description":
			carried = append(carried, "@name", "description")
			short, long, full = c.Child("descShort").Str(), c.Child("descLong").Str(), c.Child("descFull").Str()
			a.Add("description.short", short)
			a.Add("description.long", long)
			a.Add("description.full", full)
		case "relationship":
			carried = append(carried, "@parents")
			rel := strings.ToLower(c.Child("relation").Str())
			if rel != "parent" && rel != "1" {
				continue
			}
			src := c.Child("sourceId")
			if src == nil {
				src = c.Child("sourcedId")
			}
			pk := identifier(src)
			if pk == "" {
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
		case "timeframe", "timeFrame":
			carried = append(carried, "timeframe")
			leaves(&a, "timeframe", c)
		case "org":
			carried = append(carried, "org")
			leaves(&a, "org", c)
		case "enrollControl":
			carried = append(carried, "enrollcontrol")
			leaves(&a, "enrollcontrol", c)
		case "email", "url":
			carried = append(carried, c.Local)
			a.Add(c.Local, c.Str())
		case "extension":
			extension(&a, &carried, c)
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
	a.Sort()
	g.Attrs = a
	g.ComputeHash()
	return g, carried
}

// membershipsFrom reads an IMS ES <membership>: one record per member × role. A problem is
// returned as text.
func membershipsFrom(n *node) ([]record.Membership, []string, string) {
	group := identifier(n.Child("groupSourcedId"))
	if group == "" {
		return nil, nil, "membership without groupSourcedId"
	}
	var out []record.Membership
	var carried []string
	for _, m := range n.Children("member") {
		member := identifier(m.Child("memberSourcedId"))
		if member == "" {
			return nil, nil, "member without memberSourcedId"
		}
		mt := record.MemberPerson
		switch strings.ToLower(m.Child("idType").Str()) {
		case "2", "group":
			mt = record.MemberGroup
		}
		roles := m.Children("role")
		if len(roles) == 0 {
			return nil, nil, "member " + member + " without a role"
		}
		for _, r := range roles {
			rt := r.Child("roleType").Str()
			code, ok := record.NormalizeRole(rt)
			if rt == "" && mt == record.MemberGroup {
				code, ok = "04", true
			}
			if !ok {
				return nil, nil, "member " + member + ": unknown role \"" + rt + "\""
			}
			ms := record.Membership{MembershipKey: record.MembershipKey{Group: group, Member: member, Role: code}, MemberType: mt}
			switch strings.ToLower(r.Child("status").Str()) {
			case "0", "inactive":
				ms.Inactive = true
			}
			var a record.Attrs
			for _, c := range r.Kids {
				switch c.Local {
				case "subRole", "subrole":
					carried = append(carried, "subrole")
					a.Add("subrole", c.Str())
				case "timeFrame", "timeframe":
					carried = append(carried, "timeframe")
					leaves(&a, "timeframe", c)
				case "extension":
					extension(&a, &carried, c)
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
