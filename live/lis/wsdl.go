package lis

import (
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/imsfeed/imsfeed/live"
	"github.com/imsfeed/imsfeed/live/soap"
)

// imsfeed's own WSDL for the LIS 2.0 operations it implements (the IMS specifications' WSDL
// files carry a licence notice that ties redistribution to registration, so none is copied).
// The types describe the answers exactly as render.go writes them, element by element and in
// order, so a generated client (zeep, svcutil) reads them; requests are read leniently anyway.

func (h *Handler) serveWSDL(rw http.ResponseWriter, r *http.Request) {
	soap.ServeWSDL(rw, r, h.PublicURL, Path, wsdlOnce())
}

var wsdlOnce = sync.OnceValue(buildWSDL)

// service is one LIS 2.0 service of the WSDL: its namespace, SOAPAction segment and kinds.
type service struct {
	name, ns, action, prefix string
	kinds                    []kind
}

var services = []service{
	{"PersonManagement", nsPMS, "pms2p0", "pm", []kind{kPerson}},
	{"GroupManagement", nsGMS, "gms2p0", "gm", []kind{kGroup}},
	{"CourseManagement", nsCMS, "cmsv1p0", "cm", []kind{kSection, kOffering, kAssociation}},
	{"MembershipManagement", nsMMS, "mms2p0", "mm", []kind{kMembership}},
}

// xsdCommon are the types every service schema declares in its own namespace.
const xsdCommon = `<xs:complexType name="Text"><xs:sequence><xs:element name="language" type="xs:string" minOccurs="0"/><xs:element name="textString" type="xs:string" minOccurs="0"/></xs:sequence></xs:complexType>
<xs:complexType name="Vocab"><xs:sequence><xs:element name="instanceIdentifier" type="t:Text" minOccurs="0"/><xs:element name="instanceVocabulary" type="xs:string" minOccurs="0"/>
 <xs:element name="instanceName" type="t:Text" minOccurs="0"/><xs:element name="instanceValue" type="t:Text" minOccurs="0"/></xs:sequence></xs:complexType>
<xs:complexType name="StatusInfo"><xs:sequence>
 <xs:element name="imsx_codeMajor" type="xs:string"/><xs:element name="imsx_severity" type="xs:string"/>
 <xs:element name="imsx_messageRefIdentifier" type="xs:string" minOccurs="0"/><xs:element name="imsx_operationRefIdentifier" type="xs:string" minOccurs="0"/>
 <xs:element name="imsx_description" type="xs:string" minOccurs="0"/>
 <xs:element name="imsx_codeMinor" minOccurs="0"><xs:complexType><xs:sequence><xs:element name="imsx_codeMinorField" maxOccurs="unbounded"><xs:complexType><xs:sequence>
  <xs:element name="imsx_codeMinorFieldName" type="xs:string"/><xs:element name="imsx_codeMinorFieldValue" type="xs:string"/></xs:sequence></xs:complexType></xs:element></xs:sequence></xs:complexType></xs:element>
</xs:sequence></xs:complexType>
<xs:element name="imsx_syncRequestHeaderInfo"><xs:complexType><xs:sequence><xs:element name="imsx_version" type="xs:string" minOccurs="0"/><xs:element name="imsx_messageIdentifier" type="xs:string" minOccurs="0"/></xs:sequence></xs:complexType></xs:element>
<xs:element name="imsx_syncResponseHeaderInfo"><xs:complexType><xs:sequence><xs:element name="imsx_version" type="xs:string" minOccurs="0"/><xs:element name="imsx_messageIdentifier" type="xs:string" minOccurs="0"/>
 <xs:element name="imsx_statusInfo" type="t:StatusInfo"/></xs:sequence></xs:complexType></xs:element>
<xs:complexType name="SourcedGUID"><xs:sequence><xs:element name="refAgentInstanceID" type="xs:string" minOccurs="0"/><xs:element name="sourcedId" type="xs:string" minOccurs="0"/></xs:sequence></xs:complexType>
<xs:complexType name="SourcedIdSet"><xs:sequence><xs:element name="sourcedId" type="xs:string" minOccurs="0" maxOccurs="unbounded"/></xs:sequence></xs:complexType>
<xs:complexType name="Extension"><xs:sequence><xs:element name="extensionField" minOccurs="0" maxOccurs="unbounded"><xs:complexType><xs:sequence>
 <xs:element name="fieldName" type="xs:string"/><xs:element name="fieldType" type="xs:string" minOccurs="0"/><xs:element name="fieldValue" type="xs:string"/></xs:sequence></xs:complexType></xs:element></xs:sequence></xs:complexType>
<xs:complexType name="TimeFrame"><xs:sequence><xs:element name="begin" type="xs:string" minOccurs="0"/><xs:element name="end" type="xs:string" minOccurs="0"/></xs:sequence></xs:complexType>
<xs:complexType name="Org"><xs:sequence><xs:any processContents="lax" minOccurs="0" maxOccurs="unbounded"/></xs:sequence></xs:complexType>
`

// data are each kind's record types, in the order render.go writes their elements.
var data = [...]string{
	kPerson: `<xs:complexType name="Person"><xs:sequence>
 <xs:element name="formname" minOccurs="0" maxOccurs="unbounded"><xs:complexType><xs:sequence><xs:element name="formnameType" type="t:Vocab" minOccurs="0"/><xs:element name="formattedName" type="t:Text"/></xs:sequence></xs:complexType></xs:element>
 <xs:element name="name" minOccurs="0" maxOccurs="unbounded"><xs:complexType><xs:sequence><xs:element name="nameType" type="t:Vocab" minOccurs="0"/><xs:element name="partName" type="t:Vocab" minOccurs="0" maxOccurs="unbounded"/></xs:sequence></xs:complexType></xs:element>
 <xs:element name="contactinfo" minOccurs="0" maxOccurs="unbounded"><xs:complexType><xs:sequence><xs:element name="contactinfoType" type="t:Vocab"/><xs:element name="contactinfoValue" type="t:Text"/></xs:sequence></xs:complexType></xs:element>
 <xs:element name="demographics" minOccurs="0"><xs:complexType><xs:sequence><xs:element name="gender" type="t:Vocab" minOccurs="0"/><xs:element name="bday" type="xs:string" minOccurs="0"/></xs:sequence></xs:complexType></xs:element>
 <xs:element name="roles" minOccurs="0"><xs:complexType><xs:sequence>
  <xs:element name="enterpriserolesType" type="t:Vocab" minOccurs="0"/>
  <xs:element name="institutionRole" minOccurs="0" maxOccurs="unbounded"><xs:complexType><xs:sequence><xs:element name="institutionroletype" type="t:Vocab"/><xs:element name="primaryroletype" type="xs:boolean" minOccurs="0"/></xs:sequence></xs:complexType></xs:element>
  <xs:element name="userId" minOccurs="0" maxOccurs="unbounded"><xs:complexType><xs:sequence><xs:element name="userIdValue" type="t:Text"/><xs:element name="userIdType" type="t:Text" minOccurs="0"/><xs:element name="password" type="t:Text" minOccurs="0"/></xs:sequence></xs:complexType></xs:element>
 </xs:sequence></xs:complexType></xs:element>
 <xs:element name="dataSource" type="xs:string" minOccurs="0"/>
 <xs:element name="extension" type="t:Extension" minOccurs="0"/>
</xs:sequence></xs:complexType>
`,
	kGroup: `<xs:complexType name="Group"><xs:sequence>
 <xs:element name="groupType" minOccurs="0" maxOccurs="unbounded"><xs:complexType><xs:sequence><xs:element name="scheme" type="t:Text"/>
  <xs:element name="typevalue" maxOccurs="unbounded"><xs:complexType><xs:sequence><xs:element name="id" type="xs:string" minOccurs="0"/><xs:element name="type" type="t:Text"/><xs:element name="level" type="t:Text" minOccurs="0"/></xs:sequence></xs:complexType></xs:element>
 </xs:sequence></xs:complexType></xs:element>
 <xs:element name="relationship" minOccurs="0" maxOccurs="unbounded"><xs:complexType><xs:sequence><xs:element name="relation" type="xs:string"/><xs:element name="sourcedId" type="xs:string"/></xs:sequence></xs:complexType></xs:element>
 <xs:element name="timeframe" type="t:TimeFrame" minOccurs="0"/>
 <xs:element name="description" minOccurs="0"><xs:complexType><xs:sequence><xs:element name="shortDescription" type="xs:string" minOccurs="0"/><xs:element name="longDescription" type="xs:string" minOccurs="0"/><xs:element name="fullDescription" type="xs:string" minOccurs="0"/></xs:sequence></xs:complexType></xs:element>
 <xs:element name="org" type="t:Org" minOccurs="0"/>
 <xs:element name="extension" type="t:Extension" minOccurs="0"/>
</xs:sequence></xs:complexType>
`,
	kSection: `<xs:complexType name="Course"><xs:sequence>
 <xs:element name="label" type="t:Text" minOccurs="0"/><xs:element name="title" type="t:Text" minOccurs="0"/><xs:element name="academicSession" type="t:Text" minOccurs="0"/>
 <xs:element name="catalogDescription" minOccurs="0"><xs:complexType><xs:sequence><xs:element name="shortDescription" type="t:Text" minOccurs="0"/><xs:element name="longDescription" type="t:Text" minOccurs="0"/></xs:sequence></xs:complexType></xs:element>
 <xs:element name="status" type="xs:string" minOccurs="0"/>
 <xs:element name="timeFrame" type="t:TimeFrame" minOccurs="0"/>
 <xs:element name="dataSource" type="xs:string" minOccurs="0"/>
 <xs:element name="parentOfferingId" type="xs:string" minOccurs="0"/>
 <xs:element name="org" type="t:Org" minOccurs="0"/>
 <xs:element name="extension" type="t:Extension" minOccurs="0"/>
</xs:sequence></xs:complexType>
`,
	kMembership: `<xs:complexType name="Membership"><xs:sequence>
 <xs:element name="collectionSourcedId" type="xs:string"/>
 <xs:element name="membershipIdType" type="xs:string" minOccurs="0"/>
 <xs:element name="member" maxOccurs="unbounded"><xs:complexType><xs:sequence>
  <xs:element name="personSourcedId" type="xs:string"/>
  <xs:element name="role" maxOccurs="unbounded"><xs:complexType><xs:sequence>
   <xs:element name="roleType" type="xs:string"/>
   <xs:element name="subRole" type="xs:string" minOccurs="0"/>
   <xs:element name="timeFrame" type="t:TimeFrame" minOccurs="0"/>
   <xs:element name="status" type="xs:string" minOccurs="0"/>
   <xs:element name="extension" type="t:Extension" minOccurs="0"/>
  </xs:sequence></xs:complexType></xs:element>
 </xs:sequence></xs:complexType></xs:element>
</xs:sequence></xs:complexType>
`,
	kAssociation: `<xs:complexType name="SectionAssociation"><xs:sequence>
 <xs:element name="label" type="t:Text" minOccurs="0"/><xs:element name="title" type="t:Text" minOccurs="0"/>
 <xs:element name="status" type="xs:string" minOccurs="0"/>
 <xs:element name="courseSectionIdList" minOccurs="0"><xs:complexType><xs:sequence><xs:element name="courseSectionId" type="xs:string" minOccurs="0" maxOccurs="unbounded"/></xs:sequence></xs:complexType></xs:element>
 <xs:element name="dataSource" type="xs:string" minOccurs="0"/>
 <xs:element name="extension" type="t:Extension" minOccurs="0"/>
</xs:sequence></xs:complexType>
`,
}

var dataType = [...]string{kPerson: "Person", kGroup: "Group", kSection: "Course", kOffering: "Course", kMembership: "Membership", kAssociation: "SectionAssociation"}

// elements declares one operation's request and response elements.
func elements(op operation) string {
	obj := noun[op.kind]
	typ := ""
	if op.kind == kAssociation {
		typ = `<xs:element name="type" type="xs:string" minOccurs="0"/>`
	}
	rec := `<xs:element name="` + obj + `Record"><xs:complexType><xs:sequence><xs:element name="sourcedGUID" type="t:SourcedGUID" minOccurs="0"/>` + typ +
		`<xs:element name="` + obj + `" type="t:` + dataType[op.kind] + `"/></xs:sequence></xs:complexType></xs:element>`
	one := `<xs:element name="sourcedId" type="xs:string"/>`
	var in, out string
	switch {
	case op.action == live.ReadForPerson:
		in = `<xs:element name="personSourcedId" type="xs:string"/>`
	case op.action == live.ReadForGroup:
		in = `<xs:element name="collectionSourcedId" type="xs:string"/>`
	case op.action == live.ReadParents:
		in = `<xs:element name="courseSectionSourcedId" type="xs:string"/>`
	case op.plural:
		in = `<xs:element name="sourcedIdSet" type="t:SourcedIdSet"/>`
	case op.action == live.Read || op.action == live.Delete:
		in = one
	case op.action == live.ChangeIdentifier:
		in = one + `<xs:element name="newSourcedId" type="xs:string"/>`
	case op.name == "createByProxyMembership":
		in = rec
	default:
		in = `<xs:element name="sourcedId" type="xs:string" minOccurs="0"/>` + rec
	}
	switch {
	case strings.HasPrefix(op.name, "readMembershipIds") || op.action == live.ReadParents:
		out = `<xs:element name="sourcedIdSet" type="t:SourcedIdSet" minOccurs="0"/>`
	case op.plural:
		out = `<xs:element name="` + obj + `RecordSet" minOccurs="0"><xs:complexType><xs:sequence>` + strings.Replace(rec, `<xs:element name=`, `<xs:element minOccurs="0" maxOccurs="unbounded" name=`, 1) + `</xs:sequence></xs:complexType></xs:element>`
	case op.action == live.Read:
		out = strings.Replace(rec, `<xs:element name=`, `<xs:element minOccurs="0" name=`, 1)
	}
	seq := func(name, content string) string {
		return `<xs:element name="` + name + `"><xs:complexType><xs:sequence>` + content + `</xs:sequence></xs:complexType></xs:element>
`
	}
	return seq(op.name+"Request", in) + seq(op.name+"Response", out)
}

func buildWSDL() string {
	byService := make([][]operation, len(services))
	for _, op := range operations {
		if op.unsupported != "" {
			continue
		}
		for i, s := range services {
			for _, k := range s.kinds {
				if k == op.kind {
					byService[i] = append(byService[i], op)
				}
			}
		}
	}
	for i := range byService {
		sort.Slice(byService[i], func(a, b int) bool { return byService[i][a].name < byService[i][b].name })
	}
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>
<!-- imsfeed's IMS LIS 2.0 endpoint: the operations it implements. -->
<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
 xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:tns="urn:imsfeed:lis2" targetNamespace="urn:imsfeed:lis2"`)
	for _, s := range services {
		b.WriteString(` xmlns:` + s.prefix + `="` + s.ns + `"`)
	}
	b.WriteString(">\n<wsdl:types>\n")
	for i, s := range services {
		b.WriteString(`<xs:schema targetNamespace="` + s.ns + `" xmlns:t="` + s.ns + `" elementFormDefault="qualified">
` + xsdCommon)
		for _, k := range s.kinds {
			b.WriteString(data[k]) // empty for a kind that shares another's type
		}
		for _, op := range byService[i] {
			b.WriteString(elements(op))
		}
		b.WriteString("</xs:schema>\n")
	}
	b.WriteString("</wsdl:types>\n")
	for _, s := range services {
		b.WriteString(`<wsdl:message name="` + s.name + `RequestHeader"><wsdl:part name="imsx_syncRequestHeaderInfo" element="` + s.prefix + `:imsx_syncRequestHeaderInfo"/></wsdl:message>
<wsdl:message name="` + s.name + `ResponseHeader"><wsdl:part name="imsx_syncResponseHeaderInfo" element="` + s.prefix + `:imsx_syncResponseHeaderInfo"/></wsdl:message>
`)
	}
	for i, s := range services {
		for _, op := range byService[i] {
			for _, dir := range []string{"Request", "Response"} {
				b.WriteString(`<wsdl:message name="` + op.name + dir + `"><wsdl:part name="body" element="` + s.prefix + `:` + op.name + dir + `"/></wsdl:message>
`)
			}
		}
	}
	for i, s := range services {
		b.WriteString(`<wsdl:portType name="` + s.name + `PortType">
`)
		for _, op := range byService[i] {
			b.WriteString(`<wsdl:operation name="` + op.name + `"><wsdl:input message="tns:` + op.name + `Request"/><wsdl:output message="tns:` + op.name + `Response"/></wsdl:operation>
`)
		}
		b.WriteString("</wsdl:portType>\n")
	}
	for i, s := range services {
		b.WriteString(`<wsdl:binding name="` + s.name + `Binding" type="tns:` + s.name + `PortType">
<soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
`)
		for _, op := range byService[i] {
			b.WriteString(`<wsdl:operation name="` + op.name + `"><soap:operation soapAction="http://www.imsglobal.org/soap/lis/` + s.action + `/` + op.name + `" style="document"/>
<wsdl:input><soap:header message="tns:` + s.name + `RequestHeader" part="imsx_syncRequestHeaderInfo" use="literal"/><soap:body use="literal"/></wsdl:input>
<wsdl:output><soap:header message="tns:` + s.name + `ResponseHeader" part="imsx_syncResponseHeaderInfo" use="literal"/><soap:body use="literal"/></wsdl:output>
</wsdl:operation>
`)
		}
		b.WriteString("</wsdl:binding>\n")
	}
	for _, s := range services {
		b.WriteString(`<wsdl:service name="` + s.name + `Service"><wsdl:port name="` + s.name + `Port" binding="tns:` + s.name + `Binding"><soap:address location="ADDRESS"/></wsdl:port></wsdl:service>
`)
	}
	b.WriteString("</wsdl:definitions>\n")
	return b.String()
}
