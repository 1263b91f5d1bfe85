package lis

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"time"

	"github.com/imsfeed/imsfeed/live"
	"github.com/imsfeed/imsfeed/live/soap"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/store"
)

// w builds XML text. The answer's header and body elements are in the service's namespace,
// bound as the default namespace on each.
type w struct{ strings.Builder }

func (b *w) open(name string)  { b.WriteString("<" + name + ">") }
func (b *w) close(name string) { b.WriteString("</" + name + ">") }
func (b *w) leaf(name, v string) {
	b.WriteString("<" + name + ">" + soap.Esc(v) + "</" + name + ">")
}

// tleaf writes a LIS text-typed element: <name><language>en</language><textString>v</textString></name>.
func (b *w) tleaf(name, v string) {
	b.WriteString("<" + name + "><language>en</language><textString>" + soap.Esc(v) + "</textString></" + name + ">")
}

// vleaf writes a vocabulary-typed element: <name><instanceValue>…</instanceValue></name>.
func (b *w) vleaf(name, v string) {
	b.open(name)
	b.tleaf("instanceValue", v)
	b.close(name)
}

func newMessageID() string {
	var r [16]byte
	_, _ = rand.Read(r[:])
	return "imsfeed-" + hex.EncodeToString(r[:])
}

// envelope wraps an answer: the imsx_syncResponseHeaderInfo with the status, a wsse:Security
// header with a wsu:Timestamp, and the body.
func envelope(now time.Time, ns, refID, op string, st live.Status, body string) []byte {
	if ns == "" {
		ns = nsPMS
	}
	var b w
	b.WriteString(`<s:Envelope xmlns:s="` + soap.NS + `" xmlns:u="` + soap.NSWSU + `"><s:Header>`)
	b.WriteString(`<imsx_syncResponseHeaderInfo xmlns="` + soap.Esc(ns) + `">`)
	b.leaf("imsx_version", "V1.0")
	b.leaf("imsx_messageIdentifier", newMessageID())
	statusInfo(&b, st, refID, op)
	b.WriteString(`</imsx_syncResponseHeaderInfo>`)
	b.WriteString(soap.Timestamp(now))
	b.WriteString(`</s:Header><s:Body>`)
	b.WriteString(body)
	b.WriteString(`</s:Body></s:Envelope>`)
	return []byte(b.String())
}

// severity of a status, as LIS 2.0 names it.
func severity(s live.Status) string {
	if s.Major == live.Success {
		return "status"
	}
	return "error"
}

func statusInfo(b *w, s live.Status, refID, op string) {
	b.open("imsx_statusInfo")
	b.leaf("imsx_codeMajor", s.Major)
	b.leaf("imsx_severity", severity(s))
	b.leaf("imsx_messageRefIdentifier", refID)
	b.leaf("imsx_operationRefIdentifier", op)
	if s.Description != "" {
		b.leaf("imsx_description", s.Description)
	}
	if s.Minor != "" {
		b.WriteString("<imsx_codeMinor><imsx_codeMinorField>")
		b.leaf("imsx_codeMinorFieldName", "TargetEndSystem")
		b.leaf("imsx_codeMinorFieldValue", s.Minor)
		b.WriteString("</imsx_codeMinorField></imsx_codeMinor>")
	}
	b.close("imsx_statusInfo")
}

func emptyBody(op, ns string) string {
	if ns == "" || op == "" {
		return ""
	}
	return `<` + op + `Response xmlns="` + soap.Esc(ns) + `"/>`
}

// responseBody renders the body element of an operation's answer.
func responseBody(op operation, ns string, res *live.Result) string {
	if ns == "" {
		ns = nsOf[op.kind]
	}
	var b w
	name := op.name + "Response"
	b.WriteString(`<` + name + ` xmlns="` + soap.Esc(ns) + `">`)
	switch {
	case op.name == "readMembershipIdsForPerson" || op.name == "readMembershipIdsForCollection":
		b.open("sourcedIdSet")
		seen := map[string]bool{}
		for _, m := range res.Memberships {
			if !seen[m.ID] {
				seen[m.ID] = true
				b.leaf("sourcedId", m.ID)
			}
		}
		b.close("sourcedIdSet")
	case op.action == live.ReadParents:
		b.open("sourcedIdSet")
		for _, g := range res.Groups {
			b.leaf("sourcedId", g.Key)
		}
		b.close("sourcedIdSet")
	case op.action == live.ReadForPerson || op.action == live.ReadForGroup || (op.action == live.Read && op.plural):
		set := noun[op.kind] + "RecordSet"
		b.open(set)
		records(&b, op.kind, res)
		b.close(set)
	case op.action == live.Read:
		records(&b, op.kind, res)
	}
	b.WriteString(`</` + name + `>`)
	return b.String()
}

func records(b *w, k kind, res *live.Result) {
	switch k {
	case kPerson:
		for i := range res.Persons {
			personXML(b, &res.Persons[i])
		}
	case kMembership:
		for _, g := range groupMemberships(res.Memberships) {
			membershipXML(b, g.id, g.ms)
		}
	case kAssociation:
		for i := range res.Groups {
			associationXML(b, &res.Groups[i], res.Children[res.Groups[i].Key])
		}
	default:
		for i := range res.Groups {
			groupXML(b, k, &res.Groups[i])
		}
	}
}

func sourcedGUID(b *w, key string) {
	b.open("sourcedGUID")
	b.leaf("sourcedId", key)
	b.close("sourcedGUID")
}

var partOut = [][2]string{{"name.given", "First"}, {"name.family", "Last"}, {"name.other", "Middle"}, {"name.prefix", "Prefix"}, {"name.suffix", "Suffix"}}

func partName(b *w, name, v string) {
	b.open("partName")
	b.tleaf("instanceName", name)
	b.tleaf("instanceValue", v)
	b.close("partName")
}

var genderName = map[string]string{"0": "Unknown", "1": "Female", "2": "Male"}

// personXML writes a stored person as a LIS 2.0 personRecord (the reverse of personFrom; a
// password is never written).
func personXML(b *w, sp *store.StoredPerson) {
	p := &sp.Person
	b.open("personRecord")
	sourcedGUID(b, p.Key)
	b.open("person")
	if p.Name != "" {
		b.open("formname")
		b.vleaf("formnameType", "Full")
		b.tleaf("formattedName", p.Name)
		b.close("formname")
	}
	var parts [][2]string
	for _, po := range partOut {
		for _, a := range p.Attrs {
			if a.Name == po[0] {
				parts = append(parts, [2]string{po[1], a.Value})
			}
		}
	}
	for _, a := range p.Attrs {
		if t, ok := strings.CutPrefix(a.Name, "name.partname."); ok {
			parts = append(parts, [2]string{t, a.Value})
		}
	}
	if len(parts) > 0 {
		b.open("name")
		b.vleaf("nameType", "Full")
		for _, pt := range parts {
			partName(b, pt[0], pt[1])
		}
		b.close("name")
	}
	pf, pl := p.Attrs.Get(PreferredFirst), p.Attrs.Get(PreferredLast)
	if pf != "" || pl != "" {
		b.open("name")
		b.vleaf("nameType", "Preferred")
		if pf != "" {
			partName(b, "First", pf)
		}
		if pl != "" {
			partName(b, "Last", pl)
		}
		b.close("name")
	}
	contact := func(t, v string) {
		b.open("contactinfo")
		b.vleaf("contactinfoType", t)
		b.tleaf("contactinfoValue", v)
		b.close("contactinfo")
	}
	if v := p.Attrs.Get("email"); v != "" {
		contact("EmailPrimary", v)
	}
	for _, a := range p.Attrs {
		switch {
		case a.Name == "tel.voice":
			contact("TelephonePrimary", a.Value)
		case a.Name == "tel.mobile":
			contact("Mobile", a.Value)
		case a.Name == "tel.fax":
			contact("Fax", a.Value)
		case a.Name == "tel.pager":
			contact("Pager", a.Value)
		case a.Name == "url":
			contact("Web", a.Value)
		case strings.HasPrefix(a.Name, "contactinfo."):
			contact(strings.TrimPrefix(a.Name, "contactinfo."), a.Value)
		}
	}
	g, bd := p.Attrs.Get("demographics.gender"), p.Attrs.Get("demographics.bday")
	if g != "" || bd != "" {
		b.open("demographics")
		if g != "" {
			if n, ok := genderName[g]; ok {
				g = n
			}
			b.vleaf("gender", g)
		}
		if bd != "" {
			b.leaf("bday", bd)
		}
		b.close("demographics")
	}
	var roles w
	primary := p.Attrs.Get("institutionrole.primary")
	for _, a := range p.Attrs {
		if a.Name == "institutionrole" {
			roles.open("institutionRole")
			roles.vleaf("institutionroletype", a.Value)
			roles.leaf("primaryroletype", boolText(a.Value == primary))
			roles.close("institutionRole")
		}
	}
	for _, a := range p.Attrs {
		if a.Name == "userid" || strings.HasPrefix(a.Name, "userid.") {
			roles.open("userId")
			roles.tleaf("userIdValue", a.Value)
			if t, ok := strings.CutPrefix(a.Name, "userid."); ok {
				roles.tleaf("userIdType", t)
			}
			roles.close("userId")
		}
	}
	if roles.Len() > 0 {
		b.open("roles")
		b.WriteString(roles.String())
		b.close("roles")
	}
	extensionXML(b, p.Attrs)
	b.close("person")
	b.close("personRecord")
}

func boolText(v bool) string {
	if v {
		return "true"
	}
	return "false"
}

// extensionXML writes the "extension.*" attributes, then the extra fields (name, value), as
// extension fields.
func extensionXML(b *w, a record.Attrs, extra ...[2]string) {
	started := false
	fields := make([][2]string, 0, len(extra))
	for _, x := range a {
		if name, ok := strings.CutPrefix(x.Name, "extension."); ok {
			fields = append(fields, [2]string{name, x.Value})
		}
	}
	for _, f := range append(fields, extra...) {
		name, value := f[0], f[1]
		if !started {
			b.open("extension")
			started = true
		}
		b.open("extensionField")
		b.leaf("fieldName", name)
		b.leaf("fieldType", "String")
		b.leaf("fieldValue", value)
		b.close("extensionField")
	}
	if started {
		b.close("extension")
	}
}

func timeframeXML(b *w, tag string, a record.Attrs) {
	tb, te := a.Get("timeframe.begin"), a.Get("timeframe.end")
	if tb == "" && te == "" {
		return
	}
	b.open(tag)
	if tb != "" {
		b.leaf("begin", tb)
	}
	if te != "" {
		b.leaf("end", te)
	}
	b.close(tag)
}

func orgXML(b *w, a record.Attrs) {
	var parts [][2]string
	for _, x := range a {
		if n, ok := strings.CutPrefix(x.Name, "org."); ok {
			parts = append(parts, [2]string{n, x.Value})
		}
	}
	if len(parts) == 0 {
		return
	}
	b.open("org")
	for _, p := range parts {
		tag := map[string]string{"orgname": "orgName", "orgunit": "orgUnit"}[p[0]]
		if tag == "" {
			tag = p[0]
		}
		b.tleaf(tag, p[1])
	}
	b.close("org")
}

// groupXML writes a stored group as a groupRecord, or a course as a courseSectionRecord or
// courseOfferingRecord.
func groupXML(b *w, k kind, g *store.StoredGroup) {
	obj := noun[k]
	b.open(obj + "Record")
	sourcedGUID(b, g.Key)
	b.open(obj)
	s, l, f := g.Attrs.Get("description.short"), g.Attrs.Get("description.long"), g.Attrs.Get("description.full")
	if k == kGroup {
		for _, t := range g.Types {
			b.open("groupType")
			b.tleaf("scheme", t.Scheme)
			b.open("typevalue")
			b.leaf("id", t.Value)
			b.tleaf("type", t.Value)
			if t.Level != "" {
				b.tleaf("level", t.Level)
			}
			b.close("typevalue")
			b.close("groupType")
		}
		parents := g.Parents
		if g.SelfParent {
			parents = append([]string{g.Key}, parents...)
		}
		for _, p := range parents {
			b.open("relationship")
			b.leaf("relation", "Parent")
			b.leaf("sourcedId", p)
			b.close("relationship")
		}
		timeframeXML(b, "timeframe", g.Attrs)
		if s != "" || l != "" || f != "" {
			b.open("description")
			if s != "" {
				b.leaf("shortDescription", s)
			}
			if l != "" {
				b.leaf("longDescription", l)
			}
			if f != "" {
				b.leaf("fullDescription", f)
			}
			b.close("description")
		}
		orgXML(b, g.Attrs)
	} else {
		if s != "" {
			b.tleaf("label", s)
		}
		if l != "" {
			b.tleaf("title", l)
		}
		// The parents are the term and (sections) the offering, in that order; a section's one
		// parent is read as its term.
		parents := g.Parents
		if len(parents) > 0 {
			b.tleaf("academicSession", parents[0])
		}
		if f != "" {
			b.open("catalogDescription")
			b.tleaf("longDescription", f)
			b.close("catalogDescription")
		}
		b.leaf("status", "Active")
		timeframeXML(b, "timeFrame", g.Attrs)
		if k == kSection && len(parents) > 1 {
			b.leaf("parentOfferingId", parents[1])
		}
		orgXML(b, g.Attrs)
	}
	extensionXML(b, g.Attrs, templateField(&g.Group)...)
	b.close(obj)
	b.close(obj + "Record")
}

// associationXML writes a stored section association as a sectionAssociationRecord with the
// course sections it groups (the reverse of associationFrom).
func associationXML(b *w, g *store.StoredGroup, sections []string) {
	b.open("sectionAssociationRecord")
	sourcedGUID(b, g.Key)
	if t := g.Attrs.Get("association.type"); t != "" {
		b.leaf("type", t)
	}
	b.open("sectionAssociation")
	if s := g.Attrs.Get("description.short"); s != "" {
		b.tleaf("label", s)
	}
	if l := g.Attrs.Get("description.long"); l != "" {
		b.tleaf("title", l)
	}
	b.leaf("status", "Active")
	b.open("courseSectionIdList")
	for _, s := range sections {
		b.leaf("courseSectionId", s)
	}
	b.close("courseSectionIdList")
	extensionXML(b, g.Attrs)
	b.close("sectionAssociation")
	b.close("sectionAssociationRecord")
}

type idGroup struct {
	id string
	ms []record.Membership
}

// groupMemberships puts the roles of one (id, group, member) together: LIS 2.0 lists a
// member's roles in one membership.
func groupMemberships(ms []live.Membership) []idGroup {
	var out []idGroup
	idx := map[[3]string]int{}
	for _, m := range ms {
		k := [3]string{m.ID, m.Group, m.Member}
		if i, ok := idx[k]; ok {
			out[i].ms = append(out[i].ms, m.Membership)
			continue
		}
		idx[k] = len(out)
		out = append(out, idGroup{id: m.ID, ms: []record.Membership{m.Membership}})
	}
	return out
}

func membershipXML(b *w, id string, ms []record.Membership) {
	b.open("membershipRecord")
	sourcedGUID(b, id)
	b.open("membership")
	b.leaf("collectionSourcedId", ms[0].Group)
	b.leaf("membershipIdType", "courseSection")
	b.open("member")
	b.leaf("personSourcedId", ms[0].Member)
	for _, m := range ms {
		b.open("role")
		b.leaf("roleType", record.RoleName(m.Role))
		if v := m.Attrs.Get("subrole"); v != "" {
			b.leaf("subRole", v)
		}
		timeframeXML(b, "timeFrame", m.Attrs)
		b.leaf("status", "Active")
		extensionXML(b, m.Attrs)
		b.close("role")
	}
	b.close("member")
	b.close("membership")
	b.close("membershipRecord")
}

// templateField is a course's template (courses.template, stored when the course was created)
// as an extension field named "template"; none when it has none.
func templateField(g *record.Group) [][2]string {
	if g.Template == "" {
		return nil
	}
	return [][2]string{{"template", g.Template}}
}
