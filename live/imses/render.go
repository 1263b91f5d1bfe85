package imses

import (
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/imsfeed/imsfeed/live"
	livesoap "github.com/imsfeed/imsfeed/live/soap"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/store"
)

// Namespaces of IMS ES 1.0, SOAP 1.1 and WS-Security.
const (
	nsSOAP    = "http://schemas.xmlsoap.org/soap/envelope/"
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
type w struct{ livesoap.Writer }

// envelope wraps a response: the syncResponseHeaderInfo with the status (or statuses), a
// wsse:Security header with a wsu:Timestamp (WCF clients reject an answer without one), and
// the body body writes. It is written to out as it is made: a plural write's answer has a
// status per item (12 MB for a createPersons of 40,000) and a plural read's an object per item
// (29 MB for a readPersons of 40,000), and a copy of it whole, with the string it was built in,
// was the largest part of the request's memory once the request itself was let go.
func envelope(out io.Writer, now time.Time, refID string, statuses []live.Status, plural bool, body func(*w)) error {
	b := &w{}
	b.StreamTo(out)
	b.WriteString(`<s:Envelope xmlns:s="` + nsSOAP + `" xmlns:u="` + nsWSU + `"><s:Header>`)
	b.WriteString(`<h:syncResponseHeaderInfo xmlns:h="` + nsBind + `" xmlns="` + nsBind + `">`)
	b.Leaf("messageIdentifier", livesoap.NewMessageID())
	if plural {
		b.Open("statusInfoSet")
		for _, s := range statuses {
			statusInfo(b, s, refID)
			b.Spill()
		}
		b.Close("statusInfoSet")
	} else {
		s := live.Status{Major: live.Success, Minor: live.FullSuccess}
		if len(statuses) > 0 {
			s = statuses[0]
		}
		statusInfo(b, s, refID)
	}
	b.WriteString(`</h:syncResponseHeaderInfo>`)
	b.WriteString(livesoap.Timestamp(now))
	b.WriteString(`</s:Header><s:Body>`)
	body(b)
	b.WriteString(`</s:Body></s:Envelope>`)
	return b.Flush()
}

// fixed is a body of fixed text.
func fixed(s string) func(*w) { return func(b *w) { b.WriteString(s) } }

// writeAnswer writes the envelope as the HTTP answer (status 200, as every IMS answer).
func writeAnswer(rw http.ResponseWriter, now time.Time, refID string, statuses []live.Status, plural bool, body func(*w)) {
	rw.Header().Set("Content-Type", "text/xml; charset=utf-8")
	rw.WriteHeader(http.StatusOK)
	_ = envelope(rw, now, refID, statuses, plural, body)
}

func statusInfo(b *w, s live.Status, refID string) {
	b.Open("statusInfo")
	b.Leaf("codeMajor", s.Major)
	sev := "status"
	if s.Major != live.Success {
		sev = "error"
	}
	b.Leaf("severity", sev)
	if s.Minor != "" {
		b.WriteString("<codeMinor><codeMinorField>")
		b.Leaf("codeMinorFieldName", "TargetEndSystem")
		b.Leaf("codeMinorFieldValue", s.Minor)
		b.WriteString("</codeMinorField></codeMinor>")
	}
	b.Leaf("messageIdRef", refID)
	if s.Description != "" {
		b.WriteString("<description>")
		b.Leaf("language", "en")
		b.Leaf("text", s.Description)
		b.WriteString("</description>")
	}
	b.Close("statusInfo")
}

func sourcedID(b *w, prefix, key string) {
	b.Open(prefix + ":sourcedId")
	b.Leaf("c:identifier", key)
	b.Close(prefix + ":sourcedId")
}

var genderName = map[string]string{"0": "Unknown", "1": "Female", "2": "Male"}

// personXML writes a stored person as an IMS ES <person> (the reverse of personFrom; a
// password is never written).
func personXML(b *w, p *record.Person) {
	b.Open("m:person")
	if p.Name != "" {
		b.Leaf("d:formatName", p.Name)
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
		b.Open("d:name")
		for _, pt := range parts {
			b.Open("d:partName")
			b.Leaf("d:namePartType", pt[0])
			b.Leaf("d:namePartValue", pt[1])
			b.Close("d:partName")
		}
		b.Close("d:name")
	}
	if v := p.Attrs.Get("email"); v != "" {
		b.Leaf("c:email", v)
	}
	if v := p.Attrs.Get("url"); v != "" {
		b.Leaf("d:url", v)
	}
	for _, a := range p.Attrs {
		if t, ok := strings.CutPrefix(a.Name, "tel."); ok {
			b.Open("d:tel")
			b.Leaf("d:telType", strings.ToUpper(t[:1])+t[1:])
			b.Leaf("d:telValue", a.Value)
			b.Close("d:tel")
		}
	}
	g, bd := p.Attrs.Get("demographics.gender"), p.Attrs.Get("demographics.bday")
	if g != "" || bd != "" {
		b.Open("d:demographics")
		if g != "" {
			if n, ok := genderName[g]; ok {
				g = n
			}
			b.Leaf("d:gender", g)
		}
		if bd != "" {
			b.Leaf("d:bday", bd)
		}
		b.Close("d:demographics")
	}
	for _, a := range p.Attrs {
		if a.Name == "userid" || strings.HasPrefix(a.Name, "userid.") {
			b.Open("d:userId")
			b.Leaf("c:userIdValue", a.Value)
			if t, ok := strings.CutPrefix(a.Name, "userid."); ok {
				b.Leaf("c:userIdType", t)
			}
			b.Close("d:userId")
		}
	}
	primary := p.Attrs.Get("institutionrole.primary")
	for _, a := range p.Attrs {
		if a.Name == "institutionrole" {
			b.Open("d:institutionRole")
			b.Leaf("d:institutionRoleType", a.Value)
			b.Leaf("d:primaryRoleType", livesoap.BoolText(a.Value == primary))
			b.Close("d:institutionRole")
		}
	}
	if v := p.Attrs.Get("systemrole"); v != "" {
		b.WriteString("<d:systemRole>")
		b.Leaf("d:systemRoleType", v)
		b.WriteString("</d:systemRole>")
	}
	extensionXML(b, p.Attrs)
	b.Close("m:person")
}

// extensionXML writes the "extension.*" attributes, then the extra fields, as extension fields.
func extensionXML(b *w, a record.Attrs, extra ...[2]string) {
	b.Extension("d:extension", "c:", a, extra...)
}

func groupXML(b *w, g *store.StoredGroup) {
	b.Open("m:group")
	for _, t := range g.Types {
		b.Open("d:groupType")
		b.Leaf("d:scheme", t.Scheme)
		b.Open("d:typeValue")
		b.Leaf("d:type", t.Value)
		if t.Level != "" {
			b.Leaf("d:level", t.Level)
		}
		b.Close("d:typeValue")
		b.Close("d:groupType")
	}
	parents := g.Parents
	if g.SelfParent {
		parents = append([]string{g.Key}, parents...)
	}
	for _, p := range parents {
		b.Open("d:relationship")
		b.Leaf("d:relation", "Parent")
		b.Open("d:sourceId")
		b.Leaf("c:identifier", p)
		b.Close("d:sourceId")
		b.Close("d:relationship")
	}
	s, l, f := g.Attrs.Get("description.short"), g.Attrs.Get("description.long"), g.Attrs.Get("description.full")
	if s != "" || l != "" || f != "" {
		b.Open("d:description")
		if s != "" {
			b.Leaf("d:descShort", s)
		}
		if l != "" {
			b.Leaf("d:descLong", l)
		}
		if f != "" {
			b.Leaf("d:descFull", f)
		}
		b.Close("d:description")
	}
	timeframeXML(b, "d:timeframe", g.Attrs)
	extensionXML(b, g.Attrs, livesoap.TemplateField(&g.Group)...)
	b.Close("m:group")
}

// timeframeXML writes the "timeframe.begin" and "timeframe.end" attributes as tag (groups say
// timeframe, membership roles timeFrame), or nothing when neither is set.
func timeframeXML(b *w, tag string, a record.Attrs) {
	tb, te := a.Get("timeframe.begin"), a.Get("timeframe.end")
	if tb == "" && te == "" {
		return
	}
	b.Open(tag)
	if tb != "" {
		b.Leaf("d:begin", tb)
	}
	if te != "" {
		b.Leaf("d:end", te)
	}
	b.Close(tag)
}

func membershipXML(b *w, ms []record.Membership) {
	b.Open("m:membership")
	b.Open("d:groupSourcedId")
	b.Leaf("c:identifier", ms[0].Group)
	b.Close("d:groupSourcedId")
	b.Open("d:member")
	b.Open("d:memberSourcedId")
	b.Leaf("c:identifier", ms[0].Member)
	b.Close("d:memberSourcedId")
	if ms[0].MemberType == record.MemberGroup {
		b.Leaf("d:idType", "Group")
	}
	for _, m := range ms {
		b.Open("d:role")
		b.Leaf("d:roleType", record.RoleName(m.Role))
		if v := m.Attrs.Get("subrole"); v != "" {
			b.Leaf("d:subRole", v)
		}
		timeframeXML(b, "d:timeFrame", m.Attrs)
		b.Leaf("d:status", "Active")
		extensionXML(b, m.Attrs)
		b.Close("d:role")
	}
	b.Close("d:member")
	b.Close("m:membership")
}
