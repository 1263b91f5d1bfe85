package imses

import (
	"strings"

	"github.com/imsfeed/imsfeed/live"
	"github.com/imsfeed/imsfeed/record"
)

// operation is one IMS ES 1.0 operation imsfeed implements.
type operation struct {
	name   string // e.g. createPerson
	typ    record.Type
	action live.Action
	plural bool
}

// service namespaces of each type: messages and data.
var msgNS = [3]string{nsPMSMsg, nsGMSMsg, nsMMSMsg}
var dataNS = [3]string{nsPMSData, nsGMSData, nsMMSData}

// noun is the element name of one object of each type in requests and responses.
var noun = [3]string{"person", "group", "membership"}

// operations lists what imsfeed implements, by request element name without "Request".
var operations = func() map[string]operation {
	m := map[string]operation{}
	for _, t := range record.Types {
		n := strings.ToUpper(noun[t][:1]) + noun[t][1:]
		for _, a := range []live.Action{live.Create, live.Read, live.Replace, live.Update, live.Delete} {
			m[string(a)+n] = operation{string(a) + n, t, a, false}
			m[string(a)+n+"s"] = operation{string(a) + n + "s", t, a, true}
		}
	}
	for _, o := range []operation{
		{"readMembershipsForPerson", record.Memberships, live.ReadForPerson, true},
		{"readMembershipsForGroup", record.Memberships, live.ReadForGroup, true},
		{"readPersonsForGroup", record.Persons, live.ReadForGroup, true},
		{"readGroupsForPerson", record.Groups, live.ReadForPerson, true},
		{"deleteGroupRelationship", record.Groups, live.DeleteRelationship, false},
		{"changePersonIdentifier", record.Persons, live.ChangeIdentifier, false},
	} {
		m[o.name] = o
	}
	return m
}()

// Operations lists the names of the implemented operations (for the WSDL and tests).
func Operations() []string {
	var out []string
	for n := range operations {
		out = append(out, n)
	}
	return out
}

func invalid(format string) *live.Status {
	return &live.Status{Major: live.Failure, Minor: live.InvalidData, Description: format}
}

// request translates the body element of an implemented operation into a live.Request.
func request(op operation, body *node) *live.Request {
	req := &live.Request{Dialect: "imses1", Operation: op.name, Type: op.typ, Action: op.action, Plural: op.plural}
	obj := noun[op.typ]
	switch {
	case op.action == live.ReadForPerson:
		req.Items = []live.Item{keyItem(identifier(body.Child("personSourcedId")), "personSourcedId")}
		req.Plural = false
	case op.action == live.ReadForGroup:
		req.Items = []live.Item{keyItem(identifier(body.Child("groupSourcedId")), "groupSourcedId")}
		req.Plural = false
	case op.plural && (op.action == live.Read || op.action == live.Delete):
		set := body.Child("sourcedIdSet")
		ids := set.Children("identifier")
		if len(ids) == 0 {
			for _, s := range set.Children("sourcedId") {
				ids = append(ids, s.Child("identifier"))
			}
		}
		if len(ids) > 0 {
			req.Items = make([]live.Item, 0, len(ids))
		}
		for _, id := range ids {
			req.Items = append(req.Items, keyItem(id.Str(), "identifier"))
		}
	case op.plural:
		for _, pair := range []string{obj + "IdPair", obj + "IDPair"} {
			if len(req.Items) > 0 {
				break
			}
			set := body.Child(pair + "Set")
			pairs := set.Children(pair)
			// Each pair is let go once it is an item: the items and the rest of the tree,
			// not both whole, are held at once (the caller took the tree's digest before).
			if set != nil {
				set.Kids = nil
			}
			if len(pairs) > 0 {
				req.Items = make([]live.Item, 0, len(pairs)) // not grown by doubling: 152 bytes an item
			}
			for i, pair := range pairs {
				pairs[i] = nil
				req.Items = append(req.Items, item(op, identifier(pair.Child("sourcedId")), pair.Child(obj)))
			}
		}
	case op.action == live.DeleteRelationship:
		key := identifier(body.Child("sourcedId"))
		it := keyItem(key, "sourcedId")
		if it.Err == nil {
			// The relationships to remove: read as a group's relationships are.
			g, _ := groupFrom(key, body)
			if len(g.Parents) == 0 && !g.SelfParent {
				it.Err = invalid("deleteGroupRelationship names no parent relationship (relation Parent, sourceId)")
			}
			it.Group = g
		}
		req.Items = []live.Item{it}
	case op.action == live.ChangeIdentifier:
		it := keyItem(identifier(body.Child("sourcedId")), "sourcedId")
		it.NewKey = identifier(body.Child("newSourcedId"))
		if it.Err == nil && it.NewKey == "" {
			it.Err = invalid("changePersonIdentifier has no newSourcedId/identifier")
		}
		req.Items = []live.Item{it}
	case op.action == live.Read || op.action == live.Delete:
		req.Items = []live.Item{keyItem(identifier(body.Child("sourcedId")), "sourcedId")}
	default:
		req.Items = []live.Item{item(op, identifier(body.Child("sourcedId")), body.Child(obj))}
	}
	return req
}

func keyItem(key, what string) live.Item {
	if key == "" {
		return live.Item{Err: invalid("the request has no " + what + "/identifier")}
	}
	return live.Item{Key: key}
}

func item(op operation, key string, data *node) live.Item {
	obj := noun[op.typ]
	if key == "" {
		return live.Item{Err: invalid("a " + obj + " without sourcedId/identifier")}
	}
	if data == nil {
		return live.Item{Key: key, Err: invalid(obj + " " + key + ": the request has no <" + obj + ">")}
	}
	it := live.Item{Key: key}
	switch op.typ {
	case record.Persons:
		it.Person, it.Carried = personFrom(key, data)
	case record.Groups:
		it.Group, it.Carried = groupFrom(key, data)
	default:
		ms, carried, problem := membershipsFrom(data)
		if problem != "" {
			it.Err = invalid("membership " + key + ": " + problem)
			return it
		}
		it.Memberships, it.Carried = ms, carried
	}
	return it
}

// responseBody renders the body element of an operation's answer.
func responseBody(b *w, op operation, res *live.Result) {
	name := op.name + "Response"
	b.WriteString(`<m:` + name + ` xmlns:m="` + msgNS[op.typ] + `" xmlns:d="` + dataNS[op.typ] + `" xmlns:c="` + nsCommon + `">`)
	if op.action == live.Read || op.action == live.ReadForPerson || op.action == live.ReadForGroup {
		readBody(b, op, res)
	}
	b.WriteString(`</m:` + name + `>`)
}

func readBody(b *w, op operation, res *live.Result) {
	obj := noun[op.typ]
	switch {
	case op.name == "readPersonsForGroup" || op.name == "readGroupsForPerson":
		b.Open("m:sourcedIdSet")
		for _, p := range res.Persons {
			b.Leaf("c:identifier", p.Key)
			b.Spill()
		}
		for _, g := range res.Groups {
			b.Leaf("c:identifier", g.Key)
			b.Spill()
		}
		b.Close("m:sourcedIdSet")
	case op.typ == record.Memberships:
		groups := groupMemberships(res.Memberships)
		if !op.plural && op.action == live.Read {
			if len(groups) > 0 {
				membershipXML(b, groups[0].ms)
			}
			return
		}
		// Spelt as itslearning answers (clients parse exactly this): ID in the set, Id in the pair.
		b.Open("m:membershipIDPairSet")
		for _, g := range groups {
			b.Open("m:membershipIdPair")
			sourcedID(b, "m", g.id)
			membershipXML(b, g.ms)
			b.Close("m:membershipIdPair")
			b.Spill()
		}
		b.Close("m:membershipIDPairSet")
	case !op.plural:
		if len(res.Persons) > 0 {
			personXML(b, &res.Persons[0].Person)
		}
		if len(res.Groups) > 0 {
			groupXML(b, &res.Groups[0])
		}
	default:
		b.Open("m:" + obj + "IdPairSet")
		for i := range res.Persons {
			b.Open("m:personIdPair")
			sourcedID(b, "m", res.Persons[i].Key)
			personXML(b, &res.Persons[i].Person)
			b.Close("m:personIdPair")
			b.Spill()
		}
		for i := range res.Groups {
			b.Open("m:groupIdPair")
			sourcedID(b, "m", res.Groups[i].Key)
			groupXML(b, &res.Groups[i])
			b.Close("m:groupIdPair")
			b.Spill()
		}
		b.Close("m:" + obj + "IdPairSet")
	}
}

type idGroup struct {
	id string
	ms []record.Membership
}

// groupMemberships puts the roles of one (id, group, member) together: IMS ES lists a member's
// roles in one membership.
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
