package imses

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"time"

	"github.com/imsfeed/imsfeed/live"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/store"
)

// Namespaces of IMS ES 1.0, SOAP 1.1 and WS-Security.
const (
	nsSOAP    = "http://schemas.xmlsoap.org/soap/envelope/"
	nsSOAP12  = "http://www.w3.org/2003/05/soap-envelope"
	nsBind    = "http://www.imsglobal.org/services/common/imsMessBindSchema_v1p0"
	nsCommon  = "http://www.imsglobal.org/services/common/imsCommonSchema_v1p0"
	nsPMSMsg  = "http://www.imsglobal.org/services/pms/xsd/imsPersonManMessSchema_v1p0"
	nsPMSData = "http://www.imsglobal.org/services/pms/xsd/imsPersonManDataSchema_v1p0"
	nsGMSMsg  = "http://www.imsglobal.org/services/gms/xsd/imsGroupManMessSchema_v1p0"
	nsGMSData = "http://www.imsglobal.org/services/gms/xsd/imsGroupManDataSchema_v1p0"
	nsMMSMsg  = "http://www.imsglobal.org/services/mms/xsd/imsMemberManMessSchema_v1p0"
	nsMMSData = "http://www.imsglobal.org/services/mms/xsd/imsMemberManDataSchema_v1p0"
	nsWSSE    = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
	nsWSU     = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
	pwText    = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText"
)

// w builds XML text. Elements in the response body use prefixes bound once on the body element:
// m (the service's messages), d (its data) and c (common types).
type w struct{ strings.Builder }

func (b *w) open(name string)  { b.WriteString("<" + name + ">") }
func (b *w) close(name string) { b.WriteString("</" + name + ">") }
func (b *w) leaf(name, v string) {
	b.WriteString("<" + name + ">" + esc(v) + "</" + name + ">")
}

func newMessageID() string {
	var r [16]byte
	_, _ = rand.Read(r[:])
	return "imsfeed-" + hex.EncodeToString(r[:])
}

// envelope wraps a response: the syncResponseHeaderInfo with the status (or statuses), a
// wsse:Security header with a wsu:Timestamp (WCF clients reject an answer without one), and
// the body.
func envelope(now time.Time, refID string, statuses []live.Status, plural bool, body string) []byte {
	var b w
	b.WriteString(`<s:Envelope xmlns:s="` + nsSOAP + `" xmlns:u="` + nsWSU + `"><s:Header>`)
	b.WriteString(`<h:syncResponseHeaderInfo xmlns:h="` + nsBind + `" xmlns="` + nsBind + `">`)
	b.leaf("messageIdentifier", newMessageID())
	if plural {
		b.open("statusInfoSet")
		for _, s := range statuses {
			statusInfo(&b, s, refID)
		}
		b.close("statusInfoSet")
	} else {
		s := live.Status{Major: live.Success, Minor: live.FullSuccess}
		if len(statuses) > 0 {
			s = statuses[0]
		}
		statusInfo(&b, s, refID)
	}
	b.WriteString(`</h:syncResponseHeaderInfo>`)
	b.WriteString(`<o:Security s:mustUnderstand="1" xmlns:o="` + nsWSSE + `"><u:Timestamp u:Id="_0">`)
	b.leaf("u:Created", now.UTC().Format("2006-01-02T15:04:05.000Z"))
	b.leaf("u:Expires", now.Add(5*time.Minute).UTC().Format("2006-01-02T15:04:05.000Z"))
	b.WriteString(`</u:Timestamp></o:Security></s:Header><s:Body>`)
	b.WriteString(body)
	b.WriteString(`</s:Body></s:Envelope>`)
	return []byte(b.String())
}

func statusInfo(b *w, s live.Status, refID string) {
	b.open("statusInfo")
	b.leaf("codeMajor", s.Major)
	sev := "status"
	if s.Major != live.Success {
		sev = "error"
	}
	b.leaf("severity", sev)
	if s.Minor != "" {
		b.WriteString("<codeMinor><codeMinorField>")
		b.leaf("codeMinorFieldName", "TargetEndSystem")
		b.leaf("codeMinorFieldValue", s.Minor)
		b.WriteString("</codeMinorField></codeMinor>")
	}
	b.leaf("messageIdRef", refID)
	if s.Description != "" {
		b.WriteString("<description>")
		b.leaf("language", "en")
		b.leaf("text", s.Description)
		b.WriteString("</description>")
	}
	b.close("statusInfo")
}

// fault is a SOAP 1.1 fault: the request could not be read as a SOAP request at all.
func fault(code, msg string) []byte {
	return []byte(`<s:Envelope xmlns:s="` + nsSOAP + `"><s:Body><s:Fault><faultcode>s:` + code + `</faultcode><faultstring xml:lang="en">` +
		esc(msg) + `</faultstring></s:Fault></s:Body></s:Envelope>`)
}

func sourcedID(b *w, prefix, key string) {
	b.open(prefix + ":sourcedId")
	b.leaf("c:identifier", key)
	b.close(prefix + ":sourcedId")
}

var genderName = map[string]string{"0": "Unknown", "1": "Female", "2": "Male"}

// personXML writes a stored person as an IMS ES <person> (the reverse of personFrom; a
// password is never written).
func personXML(b *w, p *record.Person) {
	b.open("m:person")
	if p.Name != "" {
		b.leaf("d:formatName", p.Name)
	}
	var parts [][2]string
	for _, a := range p.Attrs {
		switch {
		case a.Name == "name.given":
			parts = append(parts, [2]string{"First", a.Value})
		case a.Name == "name.family":
			parts = append(parts, [2]string{"Last", a.Value})
		case a.Name == "name.other":
			parts = append(parts, [2]string{"Middle", a.Value})
		case a.Name == "name.prefix":
			parts = append(parts, [2]string{"Prefix", a.Value})
		case a.Name == "name.suffix":
			parts = append(parts, [2]string{"Suffix", a.Value})
		case a.Name == record.PreferredFirst:
			parts = append(parts, [2]string{"Nickname", a.Value})
		case strings.HasPrefix(a.Name, "name.partname."):
			parts = append(parts, [2]string{strings.TrimPrefix(a.Name, "name.partname."), a.Value})
		}
	}
	if len(parts) > 0 {
		b.open("d:name")
		for _, pt := range parts {
			b.open("d:partName")
			b.leaf("d:namePartType", pt[0])
			b.leaf("d:namePartValue", pt[1])
			b.close("d:partName")
		}
		b.close("d:name")
	}
	if v := p.Attrs.Get("email"); v != "" {
		b.leaf("c:email", v)
	}
	if v := p.Attrs.Get("url"); v != "" {
		b.leaf("d:url", v)
	}
	for _, a := range p.Attrs {
		if t, ok := strings.CutPrefix(a.Name, "tel."); ok {
			b.open("d:tel")
			b.leaf("d:telType", strings.ToUpper(t[:1])+t[1:])
			b.leaf("d:telValue", a.Value)
			b.close("d:tel")
		}
	}
	g, bd := p.Attrs.Get("demographics.gender"), p.Attrs.Get("demographics.bday")
	if g != "" || bd != "" {
		b.open("d:demographics")
		if g != "" {
			if n, ok := genderName[g]; ok {
				g = n
			}
			b.leaf("d:gender", g)
		}
		if bd != "" {
			b.leaf("d:bday", bd)
		}
		b.close("d:demographics")
	}
	for _, a := range p.Attrs {
		if a.Name == "userid" || strings.HasPrefix(a.Name, "userid.") {
			b.open("d:userId")
			b.leaf("c:userIdValue", a.Value)
			if t, ok := strings.CutPrefix(a.Name, "userid."); ok {
				b.leaf("c:userIdType", t)
			}
			b.close("d:userId")
		}
	}
	primary := p.Attrs.Get("institutionrole.primary")
	for _, a := range p.Attrs {
		if a.Name == "institutionrole" {
			b.open("d:institutionRole")
			b.leaf("d:institutionRoleType", a.Value)
			b.leaf("d:primaryRoleType", boolText(a.Value == primary))
			b.close("d:institutionRole")
		}
	}
	if v := p.Attrs.Get("systemrole"); v != "" {
		b.WriteString("<d:systemRole>")
		b.leaf("d:systemRoleType", v)
		b.WriteString("</d:systemRole>")
	}
	extensionXML(b, p.Attrs)
	b.close("m:person")
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
			b.open("d:extension")
			started = true
		}
		b.open("c:extensionField")
		b.leaf("c:fieldName", name)
		b.leaf("c:fieldType", "String")
		b.leaf("c:fieldValue", value)
		b.close("c:extensionField")
	}
	if started {
		b.close("d:extension")
	}
}

func groupXML(b *w, g *store.StoredGroup) {
	b.open("m:group")
	for _, t := range g.Types {
		b.open("d:groupType")
		b.leaf("d:scheme", t.Scheme)
		b.open("d:typeValue")
		b.leaf("d:type", t.Value)
		if t.Level != "" {
			b.leaf("d:level", t.Level)
		}
		b.close("d:typeValue")
		b.close("d:groupType")
	}
	parents := g.Parents
	if g.SelfParent {
		parents = append([]string{g.Key}, parents...)
	}
	for _, p := range parents {
		b.open("d:relationship")
		b.leaf("d:relation", "Parent")
		b.open("d:sourceId")
		b.leaf("c:identifier", p)
		b.close("d:sourceId")
		b.close("d:relationship")
	}
	s, l, f := g.Attrs.Get("description.short"), g.Attrs.Get("description.long"), g.Attrs.Get("description.full")
	if s != "" || l != "" || f != "" {
		b.open("d:description")
		if s != "" {
			b.leaf("d:descShort", s)
		}
		if l != "" {
			b.leaf("d:descLong", l)
		}
		if f != "" {
			b.leaf("d:descFull", f)
		}
		b.close("d:description")
	}
	timeframeXML(b, "d:timeframe", g.Attrs)
	extensionXML(b, g.Attrs, templateField(&g.Group)...)
	b.close("m:group")
}

// timeframeXML writes the "timeframe.begin" and "timeframe.end" attributes as tag (groups say
// timeframe, membership roles timeFrame), or nothing when neither is set.
func timeframeXML(b *w, tag string, a record.Attrs) {
	tb, te := a.Get("timeframe.begin"), a.Get("timeframe.end")
	if tb == "" && te == "" {
		return
	}
	b.open(tag)
	if tb != "" {
		b.leaf("d:begin", tb)
	}
	if te != "" {
		b.leaf("d:end", te)
	}
	b.close(tag)
}

func membershipXML(b *w, ms []record.Membership) {
	b.open("m:membership")
	b.open("d:groupSourcedId")
	b.leaf("c:identifier", ms[0].Group)
	b.close("d:groupSourcedId")
	b.open("d:member")
	b.open("d:memberSourcedId")
	b.leaf("c:identifier", ms[0].Member)
	b.close("d:memberSourcedId")
	if ms[0].MemberType == record.MemberGroup {
		b.leaf("d:idType", "Group")
	}
	for _, m := range ms {
		b.open("d:role")
		b.leaf("d:roleType", record.RoleName(m.Role))
		if v := m.Attrs.Get("subrole"); v != "" {
			b.leaf("d:subRole", v)
		}
		timeframeXML(b, "d:timeFrame", m.Attrs)
		b.leaf("d:status", "Active")
		extensionXML(b, m.Attrs)
		b.close("d:role")
	}
	b.close("d:member")
	b.close("m:membership")
}

// templateField is a course's template (courses.template, stored when the course was created)
// as an extension field named "template"; none when it has none.
func templateField(g *record.Group) [][2]string {
	if g.Template == "" {
		return nil
	}
	return [][2]string{{"template", g.Template}}
}
