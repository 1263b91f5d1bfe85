package lis

import (
	"io"
	"strings"
	"time"

	"github.com/imsfeed/imsfeed/hierarchy"
	"github.com/imsfeed/imsfeed/live"
	"github.com/imsfeed/imsfeed/live/soap"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/store"
)

// w builds XML text. The answer's header and body elements are in the service's namespace,
// bound as the default namespace on each, so names have no prefix.
type w struct{ soap.Writer }

// tleaf writes a LIS text-typed element: <name><language>en</language><textString>v</textString></name>.
func (b *w) tleaf(name, v string) {
	b.WriteString("<" + name + "><language>en</language><textString>" + soap.Esc(v) + "</textString></" + name + ">")
}

// vleaf writes a vocabulary-typed element: <name><instanceValue>…</instanceValue></name>.
func (b *w) vleaf(name, v string) {
	b.Open(name)
	b.tleaf("instanceValue", v)
	b.Close(name)
}

// envelope wraps an answer: the imsx_syncResponseHeaderInfo with the status, a wsse:Security
// header with a wsu:Timestamp, and the body body writes; written to out as it is made (a
// plural read's answer has a record per item).
func envelope(out io.Writer, now time.Time, ns, refID, op string, st live.Status, body func(*w)) error {
	if ns == "" {
		ns = nsPMS
	}
	b := &w{}
	b.StreamTo(out)
	b.WriteString(`<s:Envelope xmlns:s="` + soap.NS + `" xmlns:u="` + soap.NSWSU + `"><s:Header>`)
	b.WriteString(`<imsx_syncResponseHeaderInfo xmlns="` + soap.Esc(ns) + `">`)
	b.Leaf("imsx_version", "V1.0")
	b.Leaf("imsx_messageIdentifier", soap.NewMessageID())
	statusInfo(b, st, refID, op)
	b.WriteString(`</imsx_syncResponseHeaderInfo>`)
	b.WriteString(soap.Timestamp(now))
	b.WriteString(`</s:Header><s:Body>`)
	body(b)
	b.WriteString(`</s:Body></s:Envelope>`)
	return b.Flush()
}

// fixed is a body of fixed text.
func fixed(s string) func(*w) { return func(b *w) { b.WriteString(s) } }

// severity of a status, as LIS 2.0 names it.
func severity(s live.Status) string {
	if s.Major == live.Success {
		return "status"
	}
	return "error"
}

func statusInfo(b *w, s live.Status, refID, op string) {
	b.Open("imsx_statusInfo")
	b.Leaf("imsx_codeMajor", s.Major)
	b.Leaf("imsx_severity", severity(s))
	b.Leaf("imsx_messageRefIdentifier", refID)
	b.Leaf("imsx_operationRefIdentifier", op)
	if s.Description != "" {
		b.Leaf("imsx_description", s.Description)
	}
	if s.Minor != "" {
		b.WriteString("<imsx_codeMinor><imsx_codeMinorField>")
		b.Leaf("imsx_codeMinorFieldName", "TargetEndSystem")
		b.Leaf("imsx_codeMinorFieldValue", s.Minor)
		b.WriteString("</imsx_codeMinorField></imsx_codeMinor>")
	}
	b.Close("imsx_statusInfo")
}

func emptyBody(op, ns string) string {
	if ns == "" || op == "" {
		return ""
	}
	return `<` + op + `Response xmlns="` + soap.Esc(ns) + `"/>`
}

// responseBody renders the body element of an operation's answer.
func responseBody(b *w, op operation, ns string, res *live.Result) {
	if ns == "" {
		ns = nsOf[op.kind]
	}
	name := op.name + "Response"
	b.WriteString(`<` + name + ` xmlns="` + soap.Esc(ns) + `">`)
	switch {
	case op.name == "readMembershipIdsForPerson" || op.name == "readMembershipIdsForCollection":
		b.Open("sourcedIdSet")
		seen := map[string]bool{}
		for _, m := range res.Memberships {
			if !seen[m.ID] {
				seen[m.ID] = true
				b.Leaf("sourcedId", m.ID)
				b.Spill()
			}
		}
		b.Close("sourcedIdSet")
	case op.action == live.ReadParents:
		b.Open("sourcedIdSet")
		for _, g := range res.Groups {
			b.Leaf("sourcedId", g.Key)
			b.Spill()
		}
		b.Close("sourcedIdSet")
	case op.action == live.ReadForPerson || op.action == live.ReadForGroup || (op.action == live.Read && op.plural):
		set := noun[op.kind] + "RecordSet"
		b.Open(set)
		records(b, op.kind, res)
		b.Close(set)
	case op.action == live.Read:
		records(b, op.kind, res)
	}
	b.WriteString(`</` + name + `>`)
}

func records(b *w, k kind, res *live.Result) {
	switch k {
	case kPerson:
		for i := range res.Persons {
			personXML(b, &res.Persons[i])
			b.Spill()
		}
	case kMembership:
		for _, g := range groupMemberships(res.Memberships) {
			membershipXML(b, g.id, g.ms)
			b.Spill()
		}
	case kAssociation:
		for i := range res.Groups {
			associationXML(b, &res.Groups[i], res.Children[res.Groups[i].Key])
			b.Spill()
		}
	default:
		for i := range res.Groups {
			groupXML(b, k, &res.Groups[i], res.Parents)
			b.Spill()
		}
	}
}

func sourcedGUID(b *w, key string) {
	b.Open("sourcedGUID")
	b.Leaf("sourcedId", key)
	b.Close("sourcedGUID")
}

var partOut = [][2]string{{"name.given", "First"}, {"name.family", "Last"}, {"name.other", "Middle"}, {"name.prefix", "Prefix"}, {"name.suffix", "Suffix"}}

func partName(b *w, name, v string) {
	b.Open("partName")
	b.tleaf("instanceName", name)
	b.tleaf("instanceValue", v)
	b.Close("partName")
}

var genderName = map[string]string{"0": "Unknown", "1": "Female", "2": "Male"}

// personXML writes a stored person as a LIS 2.0 personRecord (the reverse of personFrom; a
// password is never written).
func personXML(b *w, sp *store.StoredPerson) {
	p := &sp.Person
	b.Open("personRecord")
	sourcedGUID(b, p.Key)
	b.Open("person")
	if p.Name != "" {
		b.Open("formname")
		b.vleaf("formnameType", "Full")
		b.tleaf("formattedName", p.Name)
		b.Close("formname")
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
		b.Open("name")
		b.vleaf("nameType", "Full")
		for _, pt := range parts {
			partName(b, pt[0], pt[1])
		}
		b.Close("name")
	}
	pf, pl := p.Attrs.Get(PreferredFirst), p.Attrs.Get(PreferredLast)
	if pf != "" || pl != "" {
		b.Open("name")
		b.vleaf("nameType", "Preferred")
		if pf != "" {
			partName(b, "First", pf)
		}
		if pl != "" {
			partName(b, "Last", pl)
		}
		b.Close("name")
	}
	contact := func(t, v string) {
		b.Open("contactinfo")
		b.vleaf("contactinfoType", t)
		b.tleaf("contactinfoValue", v)
		b.Close("contactinfo")
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
		b.Open("demographics")
		if g != "" {
			if n, ok := genderName[g]; ok {
				g = n
			}
			b.vleaf("gender", g)
		}
		if bd != "" {
			b.Leaf("bday", bd)
		}
		b.Close("demographics")
	}
	var roles w
	primary := p.Attrs.Get("institutionrole.primary")
	for _, a := range p.Attrs {
		if a.Name == "institutionrole" {
			roles.Open("institutionRole")
			roles.vleaf("institutionroletype", a.Value)
			roles.Leaf("primaryroletype", soap.BoolText(a.Value == primary))
			roles.Close("institutionRole")
		}
	}
	for _, a := range p.Attrs {
		if a.Name == "userid" || strings.HasPrefix(a.Name, "userid.") {
			roles.Open("userId")
			roles.tleaf("userIdValue", a.Value)
			if t, ok := strings.CutPrefix(a.Name, "userid."); ok {
				roles.tleaf("userIdType", t)
			}
			roles.Close("userId")
		}
	}
	if roles.Len() > 0 {
		b.Open("roles")
		b.WriteString(roles.String())
		b.Close("roles")
	}
	extensionXML(b, p.Attrs)
	b.Close("person")
	b.Close("personRecord")
}

// extensionXML writes the "extension.*" attributes, then the extra fields, as extension fields.
func extensionXML(b *w, a record.Attrs, extra ...[2]string) {
	b.Extension("extension", "", a, extra...)
}

func timeframeXML(b *w, tag string, a record.Attrs) {
	tb, te := a.Get("timeframe.begin"), a.Get("timeframe.end")
	if tb == "" && te == "" {
		return
	}
	b.Open(tag)
	if tb != "" {
		b.Leaf("begin", tb)
	}
	if te != "" {
		b.Leaf("end", te)
	}
	b.Close(tag)
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
	b.Open("org")
	for _, p := range parts {
		tag := map[string]string{"orgname": "orgName", "orgunit": "orgUnit"}[p[0]]
		if tag == "" {
			tag = p[0]
		}
		b.tleaf(tag, p[1])
	}
	b.Close("org")
}

// groupXML writes a stored group as a groupRecord, or a course as a courseSectionRecord or
// courseOfferingRecord.
func groupXML(b *w, k kind, g *store.StoredGroup, stored map[string]store.StoredGroup) {
	obj := noun[k]
	b.Open(obj + "Record")
	sourcedGUID(b, g.Key)
	b.Open(obj)
	s, l, f := g.Attrs.Get("description.short"), g.Attrs.Get("description.long"), g.Attrs.Get("description.full")
	if k == kGroup {
		for _, t := range g.Types {
			b.Open("groupType")
			b.tleaf("scheme", t.Scheme)
			b.Open("typevalue")
			b.Leaf("id", t.Value)
			b.tleaf("type", t.Value)
			if t.Level != "" {
				b.tleaf("level", t.Level)
			}
			b.Close("typevalue")
			b.Close("groupType")
		}
		parents := g.Parents
		if g.SelfParent {
			parents = append([]string{g.Key}, parents...)
		}
		for _, p := range parents {
			b.Open("relationship")
			b.Leaf("relation", "Parent")
			b.Leaf("sourcedId", p)
			b.Close("relationship")
		}
		timeframeXML(b, "timeframe", g.Attrs)
		if s != "" || l != "" || f != "" {
			b.Open("description")
			if s != "" {
				b.Leaf("shortDescription", s)
			}
			if l != "" {
				b.Leaf("longDescription", l)
			}
			if f != "" {
				b.Leaf("fullDescription", f)
			}
			b.Close("description")
		}
		orgXML(b, g.Attrs)
	} else {
		if s != "" {
			b.tleaf("label", s)
		}
		if l != "" {
			b.tleaf("title", l)
		}
		session, offering := courseParents(k, g.Parents, stored)
		if session != "" {
			b.tleaf("academicSession", session)
		}
		if f != "" {
			b.Open("catalogDescription")
			b.tleaf("longDescription", f)
			b.Close("catalogDescription")
		}
		b.Leaf("status", "Active")
		timeframeXML(b, "timeFrame", g.Attrs)
		if offering != "" {
			b.Leaf("parentOfferingId", offering)
		}
		orgXML(b, g.Attrs)
	}
	extensionXML(b, g.Attrs, soap.TemplateField(&g.Group)...)
	b.Close(obj)
	b.Close(obj + "Record")
}

// courseParents tells a course's term (academicSession) and, for a section, its course
// offering (parentOfferingId) among its parents by the stored parents' types: a parent of type
// CourseOffering is the offering; a section association (cross-listing, read with its own
// operations) and an imsfeed hierarchy node are neither; any other group is the term. A parent
// not stored is taken by its place, as courseFrom stores them: the term first, then the
// offering.
func courseParents(k kind, parents []string, stored map[string]store.StoredGroup) (session, offering string) {
	for _, p := range parents {
		g, known := stored[p]
		switch {
		case !known && session == "":
			session = p
		case !known:
			if k == kSection && offering == "" {
				offering = p
			}
		case isType(g.Types, groupType[kOffering]):
			if k == kSection && offering == "" {
				offering = p
			}
		case isType(g.Types, live.AssociationType), g.Source == hierarchy.Source && isType(g.Types, hierarchy.NodeType):
		case session == "":
			session = p
		}
	}
	return session, offering
}

func isType(types []record.GroupType, v string) bool {
	for _, t := range types {
		if strings.EqualFold(t.Value, v) {
			return true
		}
	}
	return false
}

// associationXML writes a stored section association as a sectionAssociationRecord with the
// course sections it groups (the reverse of associationFrom).
func associationXML(b *w, g *store.StoredGroup, sections []string) {
	b.Open("sectionAssociationRecord")
	sourcedGUID(b, g.Key)
	if t := g.Attrs.Get("association.type"); t != "" {
		b.Leaf("type", t)
	}
	b.Open("sectionAssociation")
	if s := g.Attrs.Get("description.short"); s != "" {
		b.tleaf("label", s)
	}
	if l := g.Attrs.Get("description.long"); l != "" {
		b.tleaf("title", l)
	}
	b.Leaf("status", "Active")
	b.Open("courseSectionIdList")
	for _, s := range sections {
		b.Leaf("courseSectionId", s)
	}
	b.Close("courseSectionIdList")
	extensionXML(b, g.Attrs)
	b.Close("sectionAssociation")
	b.Close("sectionAssociationRecord")
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
	b.Open("membershipRecord")
	sourcedGUID(b, id)
	b.Open("membership")
	b.Leaf("collectionSourcedId", ms[0].Group)
	b.Leaf("membershipIdType", "courseSection")
	b.Open("member")
	b.Leaf("personSourcedId", ms[0].Member)
	for _, m := range ms {
		b.Open("role")
		b.Leaf("roleType", record.RoleName(m.Role))
		if v := m.Attrs.Get("subrole"); v != "" {
			b.Leaf("subRole", v)
		}
		timeframeXML(b, "timeFrame", m.Attrs)
		b.Leaf("status", "Active")
		extensionXML(b, m.Attrs)
		b.Close("role")
	}
	b.Close("member")
	b.Close("membership")
	b.Close("membershipRecord")
}
