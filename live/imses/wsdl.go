package imses

import (
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/imsfeed/imsfeed/live"
	livesoap "github.com/imsfeed/imsfeed/live/soap"
	"github.com/imsfeed/imsfeed/record"
)

// imsfeed's own WSDL for what it implements (the IMS specifications' WSDL files carry a licence
// notice that ties redistribution to registration, so none is copied). The types describe the
// answers exactly as render.go writes them, element by element and namespace by namespace, so
// a generated client (zeep, svcutil) reads them; requests are read leniently anyway.

func (h *Handler) serveWSDL(rw http.ResponseWriter, r *http.Request) {
	livesoap.ServeWSDL(rw, r, h.PublicURL, "/ims/es/v1p0", wsdlDoc())
}

var wsdlOnce = sync.OnceValue(buildWSDL)

func wsdlDoc() string { return wsdlOnce() }

// Short names of the services, as the SOAPAction URIs have them.
var svc = [3]string{"pms", "gms", "mms"}
var svcName = [3]string{"PersonManagement", "GroupManagement", "MembershipManagement"}

const xsdCommon = `<xs:schema targetNamespace="` + nsCommon + `" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:c="` + nsCommon + `" elementFormDefault="qualified">
<xs:complexType name="Identifier"><xs:sequence><xs:element name="identifier" type="xs:string"/></xs:sequence></xs:complexType>
<xs:complexType name="IdentifierSet"><xs:sequence><xs:element name="identifier" type="xs:string" maxOccurs="unbounded"/></xs:sequence></xs:complexType>
<xs:element name="email" type="xs:string"/>
<xs:complexType name="UserId"><xs:sequence><xs:element name="userIdValue" type="xs:string"/><xs:element name="userIdType" type="xs:string" minOccurs="0"/><xs:element name="passWord" type="xs:string" minOccurs="0"/></xs:sequence></xs:complexType>
<xs:complexType name="ExtensionField"><xs:sequence><xs:element name="fieldName" type="xs:string"/><xs:element name="fieldType" type="xs:string" minOccurs="0"/><xs:element name="fieldValue" type="xs:string"/></xs:sequence></xs:complexType>
<xs:complexType name="Extension"><xs:sequence><xs:element name="extensionField" type="c:ExtensionField" minOccurs="0" maxOccurs="unbounded"/></xs:sequence></xs:complexType>
</xs:schema>`

const xsdBind = `<xs:schema targetNamespace="` + nsBind + `" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:b="` + nsBind + `" elementFormDefault="qualified">
<xs:element name="syncRequestHeaderInfo"><xs:complexType><xs:sequence><xs:element name="messageIdentifier" type="xs:string" minOccurs="0"/></xs:sequence></xs:complexType></xs:element>
<xs:complexType name="StatusInfo"><xs:sequence>
 <xs:element name="codeMajor" type="xs:string"/><xs:element name="severity" type="xs:string"/>
 <xs:element name="codeMinor" minOccurs="0"><xs:complexType><xs:sequence><xs:element name="codeMinorField" maxOccurs="unbounded"><xs:complexType><xs:sequence>
  <xs:element name="codeMinorFieldName" type="xs:string"/><xs:element name="codeMinorFieldValue" type="xs:string"/></xs:sequence></xs:complexType></xs:element></xs:sequence></xs:complexType></xs:element>
 <xs:element name="messageIdRef" type="xs:string" minOccurs="0"/>
 <xs:element name="description" minOccurs="0"><xs:complexType><xs:sequence><xs:element name="language" type="xs:string"/><xs:element name="text" type="xs:string"/></xs:sequence></xs:complexType></xs:element>
</xs:sequence></xs:complexType>
<xs:element name="syncResponseHeaderInfo"><xs:complexType><xs:sequence>
 <xs:element name="messageIdentifier" type="xs:string" minOccurs="0"/>
 <xs:element name="statusInfo" type="b:StatusInfo" minOccurs="0"/>
 <xs:element name="statusInfoSet" minOccurs="0"><xs:complexType><xs:sequence><xs:element name="statusInfo" type="b:StatusInfo" maxOccurs="unbounded"/></xs:sequence></xs:complexType></xs:element>
</xs:sequence></xs:complexType></xs:element>
</xs:schema>`

func dataSchema(ns, body string) string {
	return `<xs:schema targetNamespace="` + ns + `" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:c="` + nsCommon + `" xmlns:d="` + ns + `" elementFormDefault="qualified">
<xs:import namespace="` + nsCommon + `"/>
` + body + `</xs:schema>`
}

const xsdPerson = `<xs:complexType name="Person"><xs:sequence>
 <xs:element name="formatName" type="xs:string" minOccurs="0"/>
 <xs:element name="name" minOccurs="0"><xs:complexType><xs:sequence><xs:element name="partName" minOccurs="0" maxOccurs="unbounded"><xs:complexType><xs:sequence>
  <xs:element name="namePartType" type="xs:string"/><xs:element name="namePartValue" type="xs:string"/></xs:sequence></xs:complexType></xs:element></xs:sequence></xs:complexType></xs:element>
 <xs:element ref="c:email" minOccurs="0"/>
 <xs:element name="url" type="xs:string" minOccurs="0"/>
 <xs:element name="tel" minOccurs="0" maxOccurs="unbounded"><xs:complexType><xs:sequence><xs:element name="telType" type="xs:string" minOccurs="0"/><xs:element name="telValue" type="xs:string"/></xs:sequence></xs:complexType></xs:element>
 <xs:element name="demographics" minOccurs="0"><xs:complexType><xs:sequence><xs:element name="gender" type="xs:string" minOccurs="0"/><xs:element name="bday" type="xs:string" minOccurs="0"/></xs:sequence></xs:complexType></xs:element>
 <xs:element name="userId" type="c:UserId" minOccurs="0" maxOccurs="unbounded"/>
 <xs:element name="institutionRole" minOccurs="0" maxOccurs="unbounded"><xs:complexType><xs:sequence><xs:element name="institutionRoleType" type="xs:string"/><xs:element name="primaryRoleType" type="xs:boolean" minOccurs="0"/></xs:sequence></xs:complexType></xs:element>
 <xs:element name="systemRole" minOccurs="0"><xs:complexType><xs:sequence><xs:element name="systemRoleType" type="xs:string"/></xs:sequence></xs:complexType></xs:element>
 <xs:element name="extension" type="c:Extension" minOccurs="0"/>
</xs:sequence></xs:complexType>
`

const xsdGroup = `<xs:complexType name="Group"><xs:sequence>
 <xs:element name="groupType" minOccurs="0" maxOccurs="unbounded"><xs:complexType><xs:sequence><xs:element name="scheme" type="xs:string"/>
  <xs:element name="typeValue" maxOccurs="unbounded"><xs:complexType><xs:sequence><xs:element name="type" type="xs:string"/><xs:element name="level" type="xs:string" minOccurs="0"/></xs:sequence></xs:complexType></xs:element>
 </xs:sequence></xs:complexType></xs:element>
 <xs:element name="relationship" minOccurs="0" maxOccurs="unbounded"><xs:complexType><xs:sequence><xs:element name="relation" type="xs:string"/><xs:element name="sourceId" type="c:Identifier"/></xs:sequence></xs:complexType></xs:element>
 <xs:element name="description" minOccurs="0"><xs:complexType><xs:sequence><xs:element name="descShort" type="xs:string" minOccurs="0"/><xs:element name="descLong" type="xs:string" minOccurs="0"/><xs:element name="descFull" type="xs:string" minOccurs="0"/></xs:sequence></xs:complexType></xs:element>
 <xs:element name="timeframe" minOccurs="0"><xs:complexType><xs:sequence><xs:element name="begin" type="xs:string" minOccurs="0"/><xs:element name="end" type="xs:string" minOccurs="0"/></xs:sequence></xs:complexType></xs:element>
 <xs:element name="extension" type="c:Extension" minOccurs="0"/>
</xs:sequence></xs:complexType>
`

const xsdMembership = `<xs:complexType name="Membership"><xs:sequence>
 <xs:element name="groupSourcedId" type="c:Identifier"/>
 <xs:element name="member"><xs:complexType><xs:sequence>
  <xs:element name="memberSourcedId" type="c:Identifier"/>
  <xs:element name="idType" type="xs:string" minOccurs="0"/>
  <xs:element name="role" maxOccurs="unbounded"><xs:complexType><xs:sequence>
   <xs:element name="roleType" type="xs:string"/>
   <xs:element name="subRole" type="xs:string" minOccurs="0"/>
   <xs:element name="timeFrame" minOccurs="0"><xs:complexType><xs:sequence><xs:element name="begin" type="xs:string" minOccurs="0"/><xs:element name="end" type="xs:string" minOccurs="0"/></xs:sequence></xs:complexType></xs:element>
   <xs:element name="status" type="xs:string" minOccurs="0"/>
   <xs:element name="extension" type="c:Extension" minOccurs="0"/>
  </xs:sequence></xs:complexType></xs:element>
 </xs:sequence></xs:complexType></xs:element>
</xs:sequence></xs:complexType>
`

var dataXSD = [3]string{xsdPerson, xsdGroup, xsdMembership}
var dataType = [3]string{"Person", "Group", "Membership"}

// messageSchema declares every request and response element of one service.
func messageSchema(t record.Type, ops []operation) string {
	obj := noun[t]
	pairs := func(set, pair string) string {
		return `<xs:element name="` + set + `"><xs:complexType><xs:sequence><xs:element name="` + pair + `" maxOccurs="unbounded"><xs:complexType><xs:sequence>` +
			`<xs:element name="sourcedId" type="c:Identifier"/><xs:element name="` + obj + `" type="d:` + dataType[t] + `"/></xs:sequence></xs:complexType></xs:element></xs:sequence></xs:complexType></xs:element>`
	}
	seq := func(name, content string) string {
		return `<xs:element name="` + name + `"><xs:complexType><xs:sequence>` + content + `</xs:sequence></xs:complexType></xs:element>
`
	}
	readPairSet, readPair := obj+"IdPairSet", obj+"IdPair"
	if t == record.Memberships {
		readPairSet, readPair = "membershipIDPairSet", "membershipIdPair"
	}
	optional := func(s string) string {
		return strings.Replace(s, `<xs:element name=`, `<xs:element minOccurs="0" name=`, 1)
	}
	var b strings.Builder
	b.WriteString(`<xs:schema targetNamespace="` + msgNS[t] + `" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:c="` + nsCommon + `" xmlns:d="` + dataNS[t] + `" elementFormDefault="qualified">
<xs:import namespace="` + nsCommon + `"/><xs:import namespace="` + dataNS[t] + `"/>
`)
	one := `<xs:element name="sourcedId" type="c:Identifier"/>`
	set := `<xs:element name="sourcedIdSet" type="c:IdentifierSet"/>`
	for _, op := range ops {
		var in, out string
		switch {
		case op.action == live.ReadForPerson:
			in = `<xs:element name="personSourcedId" type="c:Identifier"/>`
		case op.action == live.ReadForGroup:
			in = `<xs:element name="groupSourcedId" type="c:Identifier"/>`
		case op.action == live.ChangeIdentifier:
			in = one + `<xs:element name="newSourcedId" type="c:Identifier"/>`
		case op.action == live.DeleteRelationship:
			in = one + `<xs:element name="relationship" maxOccurs="unbounded"><xs:complexType><xs:sequence><xs:element name="relation" type="xs:string"/>` +
				`<xs:element name="sourceId" type="c:Identifier"/></xs:sequence></xs:complexType></xs:element>`
		case op.plural && (op.action == live.Read || op.action == live.Delete):
			in = set
		case op.plural:
			in = pairs(obj+"IdPairSet", obj+"IdPair")
		case op.action == live.Read || op.action == live.Delete:
			in = one
		default:
			in = one + `<xs:element name="` + obj + `" type="d:` + dataType[t] + `"/>`
		}
		switch {
		case op.name == "readPersonsForGroup" || op.name == "readGroupsForPerson":
			out = `<xs:element name="sourcedIdSet" minOccurs="0"><xs:complexType><xs:sequence><xs:element name="identifier" type="xs:string" form="qualified" minOccurs="0" maxOccurs="unbounded"/></xs:sequence></xs:complexType></xs:element>`
		case op.action == live.ReadForPerson || op.action == live.ReadForGroup || (op.action == live.Read && op.plural):
			out = optional(pairs(readPairSet, readPair))
		case op.action == live.Read:
			out = `<xs:element name="` + obj + `" type="d:` + dataType[t] + `" minOccurs="0"/>`
		}
		b.WriteString(seq(op.name+"Request", in))
		b.WriteString(seq(op.name+"Response", out))
	}
	b.WriteString(`</xs:schema>`)
	return b.String()
}

func buildWSDL() string {
	var byType [3][]operation
	for _, op := range operations {
		byType[op.typ] = append(byType[op.typ], op)
	}
	for i := range byType {
		sort.Slice(byType[i], func(a, b int) bool { return byType[i][a].name < byType[i][b].name })
	}
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>
<!-- imsfeed's IMS Enterprise Services 1.0 endpoint: the operations it implements. -->
<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
 xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:tns="urn:imsfeed:imses1" targetNamespace="urn:imsfeed:imses1"
 xmlns:b="` + nsBind + `" xmlns:pm="` + nsPMSMsg + `" xmlns:gm="` + nsGMSMsg + `" xmlns:mm="` + nsMMSMsg + `">
<wsdl:types>
` + xsdCommon + "\n" + xsdBind + "\n")
	for _, t := range record.Types {
		b.WriteString(dataSchema(dataNS[t], dataXSD[t]) + "\n")
		b.WriteString(messageSchema(t, byType[t]) + "\n")
	}
	b.WriteString("</wsdl:types>\n")
	b.WriteString(`<wsdl:message name="syncRequestHeaderInfo"><wsdl:part name="syncRequestHeaderInfo" element="b:syncRequestHeaderInfo"/></wsdl:message>
<wsdl:message name="syncResponseHeaderInfo"><wsdl:part name="syncResponseHeaderInfo" element="b:syncResponseHeaderInfo"/></wsdl:message>
`)
	prefix := [3]string{"pm", "gm", "mm"}
	for _, t := range record.Types {
		for _, op := range byType[t] {
			for _, dir := range []string{"Request", "Response"} {
				b.WriteString(`<wsdl:message name="` + op.name + dir + `"><wsdl:part name="body" element="` + prefix[t] + `:` + op.name + dir + `"/></wsdl:message>
`)
			}
		}
	}
	for _, t := range record.Types {
		b.WriteString(`<wsdl:portType name="` + svcName[t] + `PortType">
`)
		for _, op := range byType[t] {
			b.WriteString(`<wsdl:operation name="` + op.name + `"><wsdl:input message="tns:` + op.name + `Request"/><wsdl:output message="tns:` + op.name + `Response"/></wsdl:operation>
`)
		}
		b.WriteString("</wsdl:portType>\n")
	}
	for _, t := range record.Types {
		b.WriteString(`<wsdl:binding name="` + svcName[t] + `Binding" type="tns:` + svcName[t] + `PortType">
<soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
`)
		for _, op := range byType[t] {
			b.WriteString(`<wsdl:operation name="` + op.name + `"><soap:operation soapAction="http://www.imsglobal.org/soap/` + svc[t] + `/` + op.name + `" style="document"/>
<wsdl:input><soap:header message="tns:syncRequestHeaderInfo" part="syncRequestHeaderInfo" use="literal"/><soap:body use="literal"/></wsdl:input>
<wsdl:output><soap:header message="tns:syncResponseHeaderInfo" part="syncResponseHeaderInfo" use="literal"/><soap:body use="literal"/></wsdl:output>
</wsdl:operation>
`)
		}
		b.WriteString("</wsdl:binding>\n")
	}
	for _, t := range record.Types {
		b.WriteString(`<wsdl:service name="` + svcName[t] + `Service"><wsdl:port name="` + svcName[t] + `Port" binding="tns:` + svcName[t] + `Binding"><soap:address location="ADDRESS"/></wsdl:port></wsdl:service>
`)
	}
	b.WriteString("</wsdl:definitions>\n")
	return b.String()
}
