package lis

import (
	"strings"

	"github.com/imsfeed/imsfeed/live"
	"github.com/imsfeed/imsfeed/live/soap"
	"github.com/imsfeed/imsfeed/record"
)

const dialect = "lis2"

// Namespaces of the LIS 2.0 synchronous services: each service's messages, data and header are
// in its one namespace.
const (
	nsPMS = "http://www.imsglobal.org/services/lis/pms2p0/wsdl11/sync/imspms_v2p0"
	nsGMS = "http://www.imsglobal.org/services/lis/gms2p0/wsdl11/sync/imsgms_v2p0"
	nsMMS = "http://www.imsglobal.org/services/lis/mms2p0/wsdl11/sync/imsmms_v2p0"
	nsCMS = "http://www.imsglobal.org/services/lis/cmsv1p0/wsdl11/sync/imscms_v1p0"
)

// kind is what an operation's objects are: a person, a group, a course section, a course
// offering or a membership. Sections and offerings are groups of their own type (courses under
// the tenant's course policy).
type kind int

const (
	kPerson kind = iota
	kGroup
	kSection
	kOffering
	kMembership
	kAssociation
)

// noun is the element name of one object of a kind ("person" in personRecord/person).
var noun = [...]string{"person", "group", "courseSection", "courseOffering", "membership", "sectionAssociation"}

// nsOf is each kind's service namespace.
var nsOf = [...]string{nsPMS, nsGMS, nsCMS, nsCMS, nsMMS, nsCMS}

// svcOf is each kind's service short name, as the SOAPAction URIs have it.
var svcOf = [...]string{"pms2p0", "gms2p0", "cmsv1p0", "cmsv1p0", "mms2p0", "cmsv1p0"}

// groupType is the group type a section or offering is stored with (a default course type),
// and a section association (an organisational group, unless the tenant's course policy names
// the type).
var groupType = [...]string{kSection: "CourseSection", kOffering: "CourseOffering", kAssociation: live.AssociationType}

func (k kind) typ() record.Type {
	switch k {
	case kPerson:
		return record.Persons
	case kMembership:
		return record.Memberships
	}
	return record.Groups
}

// operation is one LIS 2.0 operation.
type operation struct {
	name   string // e.g. replacePerson
	kind   kind
	action live.Action
	plural bool
	// unsupported says why imsfeed answers the operation with unsupported.
	unsupported string
}

// operations by request element name without "Request".
var operations = func() map[string]operation {
	m := map[string]operation{}
	for k := kPerson; k <= kAssociation; k++ {
		n := strings.ToUpper(noun[k][:1]) + noun[k][1:]
		for _, a := range []live.Action{live.Create, live.Read, live.Replace, live.Update, live.Delete} {
			m[string(a)+n] = operation{name: string(a) + n, kind: k, action: a}
		}
		m["read"+n+"s"] = operation{name: "read" + n + "s", kind: k, action: live.Read, plural: true}
	}
	for _, o := range []operation{
		{name: "createByProxyMembership", kind: kMembership, action: live.Create},
		{name: "readMembershipsForPerson", kind: kMembership, action: live.ReadForPerson, plural: true},
		{name: "readMembershipsForCollection", kind: kMembership, action: live.ReadForGroup, plural: true},
		{name: "readMembershipIdsForPerson", kind: kMembership, action: live.ReadForPerson, plural: true},
		{name: "readMembershipIdsForCollection", kind: kMembership, action: live.ReadForGroup, plural: true},
		{name: "changePersonIdentifier", kind: kPerson, action: live.ChangeIdentifier},
		{name: "readSectionAssociationIdsForCourseSection", kind: kAssociation, action: live.ReadParents},
	} {
		m[o.name] = o
	}
	for _, n := range []string{"Person", "Group", "CourseSection", "CourseOffering", "SectionAssociation"} {
		m["createByProxy"+n] = operation{name: "createByProxy" + n, unsupported: "imsfeed does not allocate identifiers; send create" + n + " with the SIS's sourcedId"}
	}
	for name, why := range map[string]string{
		"discoverPersonIds":     "imsfeed does not search persons",
		"readAllPersonIds":      "imsfeed does not list all persons over the live channel",
		"changeGroupIdentifier": "send deleteGroup and createGroup",
	} {
		m[name] = operation{name: name, unsupported: why}
	}
	return m
}()

// Operations lists the implemented operations (for the WSDL and tests).
func Operations() []string {
	var out []string
	for n, op := range operations {
		if op.unsupported == "" {
			out = append(out, n)
		}
	}
	return out
}

// opName is the operation a body element asks for: its local name without "Request".
func opName(body *soap.Node) string { return strings.TrimSuffix(body.Local, "Request") }

func invalid(msg string) *live.Status {
	return &live.Status{Major: live.Failure, Minor: live.InvalidData, Description: msg}
}

// request translates the body element of an implemented operation into a live.Request.
func request(op operation, body *soap.Node) *live.Request {
	req := &live.Request{Dialect: dialect, Operation: op.name, Type: op.kind.typ(), Action: op.action, Plural: op.plural}
	if op.kind == kAssociation {
		req.Association = groupType[kAssociation]
	}
	rec := body.Child(noun[op.kind] + "Record")
	switch {
	case op.action == live.ReadParents:
		// The course section, by whatever name the client gives its sourcedId element.
		var key string
		for _, c := range body.Kids {
			if strings.HasSuffix(strings.ToLower(c.Local), "sourcedid") && key == "" {
				key = text(c)
			}
		}
		req.Items = []live.Item{keyItem(key, "courseSectionSourcedId")}
	case op.action == live.ReadForPerson:
		req.Items = []live.Item{keyItem(text(body.Child("personSourcedId")), "personSourcedId")}
		req.Plural = false
	case op.action == live.ReadForGroup:
		req.Items = []live.Item{keyItem(text(body.Child("collectionSourcedId")), "collectionSourcedId")}
		req.Plural = false
	case op.plural:
		for _, id := range body.Child("sourcedIdSet").Children("sourcedId") {
			req.Items = append(req.Items, keyItem(text(id), "sourcedId"))
		}
		if len(req.Items) == 0 {
			req.Items = []live.Item{{Err: invalid("the request names no sourcedIdSet/sourcedId")}}
		}
	case op.action == live.ChangeIdentifier:
		// PMS 2.0: <sourcedId> the person, <newSourcedId> its new key; by local name, any case.
		it := keyItem(text(kid(body, "sourcedId")), "sourcedId")
		it.NewKey = text(kid(body, "newSourcedId"))
		if it.Err == nil && it.NewKey == "" {
			it.Err = invalid("changePersonIdentifier has no newSourcedId")
		}
		req.Items = []live.Item{it}
	case op.action == live.Read || op.action == live.Delete:
		req.Items = []live.Item{keyItem(text(body.Child("sourcedId")), "sourcedId")}
	default:
		key := text(body.Child("sourcedId"))
		if guid := text(rec.Path("sourcedGUID", "sourcedId")); key == "" || (op.kind == kAssociation && guid != "") {
			// Banner ILP's section associations carry the placeholder "messageRefID" as the
			// request's sourcedId; their record's sourcedGUID names them.
			key = guid
		}
		req.Items = []live.Item{item(op, key, rec)}
	}
	return req
}

func keyItem(key, what string) live.Item {
	if key == "" {
		return live.Item{Err: invalid("the request has no " + what)}
	}
	return live.Item{Key: key}
}

func item(op operation, key string, rec *soap.Node) live.Item {
	obj := noun[op.kind]
	data := rec.Child(obj)
	if key == "" && op.kind != kMembership {
		return live.Item{Err: invalid("a " + obj + " without sourcedId")}
	}
	if data == nil {
		return live.Item{Key: key, Err: invalid(obj + " " + key + ": the request has no " + obj + "Record/" + obj)}
	}
	it := live.Item{Key: key}
	switch op.kind {
	case kPerson:
		it.Person, it.Carried, it.Keep = personFrom(key, data, op.action)
	case kGroup:
		it.Group, it.Carried = groupFrom(key, data)
	case kSection, kOffering:
		it.Group, it.Carried = courseFrom(key, data, op.kind)
	case kAssociation:
		it.Group, it.Children, it.Carried = associationFrom(key, data, rec)
	default:
		ms, carried, problem := membershipsFrom(data)
		if problem != "" {
			it.Err = invalid("membership " + key + ": " + problem)
			return it
		}
		if it.Key == "" {
			// A membership the client names by no identifier of its own (createByProxy) is
			// known by its group, member and role, as a nightly file's are.
			it.Key = live.KeyID(ms[0].MembershipKey)
		}
		it.Memberships, it.Carried = ms, carried
	}
	return it
}
