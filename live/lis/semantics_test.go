package lis

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imsfeed/imsfeed/live"
	"github.com/imsfeed/imsfeed/store"
)

var msgSeq atomic.Int64

// lisReq builds a request as a LIS 2.0 client sends it: the imsx header in the service's
// namespace, a WS-Security UsernameToken, the body element in the same namespace.
func lisReq(op, inner string) string {
	ns := nsPMS
	switch {
	case strings.Contains(op, "Membership"):
		ns = nsMMS
	case strings.Contains(op, "CourseSection"), strings.Contains(op, "CourseOffering"), strings.Contains(op, "SectionAssociation"):
		ns = nsCMS
	case strings.Contains(op, "Group"):
		ns = nsGMS
	}
	return fmt.Sprintf(`<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header>`+
		`<h:imsx_syncRequestHeaderInfo xmlns:h="%s"><h:imsx_version>V1.0</h:imsx_version><h:imsx_messageIdentifier>test-%d-%d</h:imsx_messageIdentifier></h:imsx_syncRequestHeaderInfo>`+
		`<o:Security s:mustUnderstand="1" xmlns:o="%s"><o:UsernameToken><o:Username>%s</o:Username><o:Password>%s</o:Password></o:UsernameToken></o:Security>`+
		`</s:Header><s:Body><%sRequest xmlns="%s">%s</%sRequest></s:Body></s:Envelope>`,
		ns, time.Now().UnixNano(), msgSeq.Add(1), "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd", testUser, "ilp-pass&amp;&lt;secret&gt;", op, ns, inner, op)
}

func ts(v string) string { return `<textString>` + v + `</textString>` }

func part(name, v string) string {
	return `<partName><instanceName>` + ts(name) + `</instanceName><instanceValue>` + ts(v) + `</instanceValue></partName>`
}

// personRec is a personRecord with a full name, an optional email and optional preferred-name
// block (pref: "" none, else the partNames inside).
func personRec(key, first, last, email, pref string) string {
	s := `<sourcedId>` + key + `</sourcedId><personRecord><sourcedGUID><sourcedId>` + key + `</sourcedId></sourcedGUID><person>` +
		`<name><nameType><instanceValue>` + ts("Full") + `</instanceValue></nameType>` + part("First", first) + part("Last", last) + `</name>`
	if pref != "" {
		s += `<name><nameType><instanceValue>` + ts("Preferred") + `</instanceValue></nameType>` + pref + `</name>`
	}
	if email != "" {
		s += `<contactinfo><contactinfoType><instanceValue>` + ts("EmailPrimary") + `</instanceValue></contactinfoType><contactinfoValue>` + ts(email) + `</contactinfoValue></contactinfo>`
	}
	return s + `</person></personRecord>`
}

func sid(key string) string { return `<sourcedId>` + key + `</sourcedId>` }

func (e *env) stored(key string) store.StoredPerson {
	e.t.Helper()
	o, err := e.st.(store.Live).LiveLoad(context.Background(), e.tenant.ID, store.LiveQuery{Persons: []string{key}})
	if err != nil {
		e.t.Fatal(err)
	}
	return o.Persons[key]
}

func TestPersonManagementOnBothStores(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open)
		e.post(lisReq("createPerson", personRec("P1", "Ada", "Lovelace", "ada@example.org", ""))).want(t, "createPerson", "success", "fullsuccess")
		e.post(lisReq("createPerson", personRec("P1", "Ada", "Lovelace", "", ""))).want(t, "createPerson again", "failure", "idallocinusefail")
		a := e.post(lisReq("readPerson", sid("P1")))
		a.want(t, "readPerson", "success", "fullsuccess")
		p := a.root.Path("Body", "readPersonResponse", "personRecord", "person")
		if text(p.Path("formname", "formattedName")) != "Ada Lovelace" || text(p.Path("contactinfo", "contactinfoValue")) != "ada@example.org" {
			t.Fatalf("readPerson: %s", a.raw)
		}
		// updatePerson changes what it carries: the email stays.
		upd := `<personRecord><sourcedGUID><sourcedId>P1</sourcedId></sourcedGUID><person><name>` + part("First", "Augusta") + part("Last", "Lovelace") + `</name></person></personRecord>`
		e.post(lisReq("updatePerson", upd)).want(t, "updatePerson", "success", "")
		if s := e.stored("P1"); s.Name != "Augusta Lovelace" || s.Attrs.Get("email") != "ada@example.org" {
			t.Fatalf("update: %+v", s)
		}
		// replacePerson is the whole person: the email goes.
		e.post(lisReq("replacePerson", personRec("P1", "Augusta", "Lovelace", "", ""))).want(t, "replacePerson", "success", "")
		if s := e.stored("P1"); s.Attrs.Get("email") != "" {
			t.Fatalf("replace kept the email: %+v", s)
		}
		e.post(lisReq("replacePerson", personRec("P2", "Grace", "Hopper", "", ""))).want(t, "replacePerson of a new key", "success", "")
		a = e.post(lisReq("readPersons", `<sourcedIdSet>`+sid("P1")+sid("P2")+`</sourcedIdSet>`))
		a.want(t, "readPersons", "success", "fullsuccess")
		if recs := a.root.Path("Body", "readPersonsResponse", "personRecordSet").Children("personRecord"); len(recs) != 2 || recs[1].Path("sourcedGUID", "sourcedId").Str() != "P2" {
			t.Fatalf("readPersons: %s", a.raw)
		}
		e.post(lisReq("deletePerson", sid("P2"))).want(t, "deletePerson", "success", "")
		if s := e.status(); s.Persons.Active != 1 || s.Persons.Trashed != 1 {
			t.Fatalf("deletePerson moves the person to the trash can: %+v", s)
		}
		e.post(lisReq("readPerson", sid("P2"))).want(t, "readPerson of a trashed person", "failure", "unknownobject")
		e.post(lisReq("deletePerson", sid("P2"))).want(t, "deletePerson again", "failure", "unknownobject")
		e.post(lisReq("readPersons", `<sourcedIdSet>`+sid("P1")+sid("P2")+`</sourcedIdSet>`)).want(t, "readPersons with one unknown", "failure", "unknownobject")
		e.post(lisReq("readAllPersonIds", "")).want(t, "readAllPersonIds", "unsupported", "unsupportedoperation")
		e.post(lisReq("replacePerson", `<personRecord><person/></personRecord>`)).want(t, "replacePerson without sourcedId", "failure", "invaliddata")

		// Every request is in the request log under the lis2 dialect.
		entries, err := e.st.(store.Live).LiveEntries(context.Background(), store.LiveLogParams{Tenant: e.tenant.ID})
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 13 || entries[0].Dialect != "lis2" || entries[0].Operation != "createPerson" || entries[0].Keys[0] != "P1" {
			t.Fatalf("log: %d entries, first %+v", len(entries), entries[0])
		}
	})
}

// TestPreferredNameRulesOnBothStores: D2L's five rules for a SIS that may overwrite preferred
// names, each from a stored pair (Bea, Bee) and from no stored names.
func TestPreferredNameRulesOnBothStores(t *testing.T) {
	first := func(v string) string { return part("First", v) }
	last := func(v string) string { return part("Last", v) }
	cases := []struct {
		rule                string
		block               string // "" is no block at all
		wantFirst, wantLast string // after a stored (Bea, Bee)
		newFirst, newLast   string // with none stored
	}{
		{"both names: overwrite both", first("Ann") + last("Anders"), "Ann", "Anders", "Ann", "Anders"},
		{"only the first: update the first, keep the last", first("Ann"), "Ann", "Bee", "Ann", ""},
		{"only the last: update the last, keep the first", last("Anders"), "Bea", "Anders", "", "Anders"},
		{"an empty first while one is stored: delete it", first("") + last("Anders"), "", "Anders", "", "Anders"},
		{"an empty last while one is stored: delete it", first("Ann") + last(""), "Ann", "", "Ann", ""},
		{"no block at all: delete both", "", "", "", "", ""},
	}
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open)
		for i, c := range cases {
			key := fmt.Sprintf("PN%d", i)
			e.post(lisReq("replacePerson", personRec(key, "Beatrice", "Bauer", "", first("Bea")+last("Bee")))).want(t, c.rule+" (setup)", "success", "")
			e.post(lisReq("replacePerson", personRec(key, "Beatrice", "Bauer", "", c.block))).want(t, c.rule, "success", "")
			s := e.stored(key)
			if got := [2]string{s.Attrs.Get(PreferredFirst), s.Attrs.Get(PreferredLast)}; got != [2]string{c.wantFirst, c.wantLast} {
				t.Errorf("%s: stored %q, want %q", c.rule, got, [2]string{c.wantFirst, c.wantLast})
			}
			// The read shows what is stored, as a name of type Preferred.
			a := e.post(lisReq("readPerson", sid(key)))
			var pf, pl string
			for _, n := range a.root.Path("Body", "readPersonResponse", "personRecord", "person").Children("name") {
				if isPreferred(n) {
					for _, p := range n.Children("partName") {
						if text(p.Child("instanceName")) == "First" {
							pf = text(p.Child("instanceValue"))
						} else {
							pl = text(p.Child("instanceValue"))
						}
					}
				}
			}
			if pf != c.wantFirst || pl != c.wantLast {
				t.Errorf("%s: readPerson shows %q %q\n%s", c.rule, pf, pl, a.raw)
			}
			// Nothing stored: the same request on a new person.
			nk := key + "new"
			e.post(lisReq("replacePerson", personRec(nk, "Beatrice", "Bauer", "", c.block))).want(t, c.rule+" (new)", "success", "")
			s = e.stored(nk)
			if got := [2]string{s.Attrs.Get(PreferredFirst), s.Attrs.Get(PreferredLast)}; got != [2]string{c.newFirst, c.newLast} {
				t.Errorf("%s, none stored: %q, want %q", c.rule, got, [2]string{c.newFirst, c.newLast})
			}
		}
		// A repeated replace with the same names changes nothing (the hash is stable).
		v := e.status().StateVersion
		e.post(lisReq("replacePerson", personRec("PN0", "Beatrice", "Bauer", "", first("Ann")+last("Anders")))).want(t, "same again", "success", "")
		if e.status().StateVersion != v {
			t.Error("replacing a person with the same preferred names is an update")
		}
	})
}

// TestBadInputGetsASOAPAnswerAndChangesNothing: faults for what is not a SOAP request,
// unauthorizedrequest alike for every wrong credential.
func TestBadInputGetsASOAPAnswerAndChangesNothing(t *testing.T) {
	e := newEnv(t, openSQLite)
	create := lisReq("createPerson", personRec("P1", "Ada", "Lovelace", "", ""))
	for what, body := range map[string]string{
		"not XML":  "this is not XML",
		"DOCTYPE":  `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaa">]>` + create,
		"SOAP 1.2": `<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body/></e:Envelope>`,
		"empty":    "",
	} {
		if a := e.post(body); a.fault == "" || a.http != 500 {
			t.Errorf("%s: want a SOAP fault, got HTTP %d %s", what, a.http, a.raw)
		}
	}
	wrong := strings.Replace(create, "ilp-pass&amp;", "ilp-pass&amp;x", 1)
	// The token's wrong password wins over the right Basic credentials.
	e.post(wrong).want(t, "wrong password", "failure", live.UnauthorizedRequest)
	if s := e.status(); s.StateVersion != 0 {
		t.Fatalf("bad input changed the store: %+v", s)
	}
}

// fixedID gives a request Banner ILP's message identifier: "2", sent with every request.
func fixedID(s string) string {
	i := strings.Index(s, "<h:imsx_messageIdentifier>") + len("<h:imsx_messageIdentifier>")
	j := strings.Index(s, "</h:imsx_messageIdentifier>")
	return s[:i] + "2" + s[j:]
}

// TestReusedMessageIdentifierForAnotherRequestIsApplied: Banner ILP's traffic sends the same
// imsx_messageIdentifier ("2") with every request; only the same request again is a repeat
// (answered from the log, nothing applied again).
func TestReusedMessageIdentifierForAnotherRequestIsApplied(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open)
		e.post(fixedID(lisReq("replacePerson", personRec("P1", "Ada", "Lovelace", "", "")))).want(t, "replacePerson P1", "success", "")
		e.post(fixedID(lisReq("replacePerson", personRec("P2", "Grace", "Hopper", "", "")))).want(t, "replacePerson P2, same identifier", "success", "")
		if s := e.status(); s.Persons.Active != 2 || s.StateVersion != 2 {
			t.Fatalf("the second request was taken for a repeat: %+v", s)
		}
		e.post(fixedID(lisReq("createPerson", personRec("P1", "Ada", "Lovelace", "", "")))).want(t, "createPerson P1, same identifier", "failure", "idallocinusefail")
		e.post(fixedID(lisReq("replacePerson", personRec("P2", "Grace", "Hopper", "", "")))).want(t, "the same replace again", "success", "")
		if s := e.status(); s.StateVersion != 2 {
			t.Fatalf("a repeat applied again: %+v", s)
		}
	})
}

// TestSameMessageIdentifierWithChangedDataIsApplied: Banner ILP sends replacePerson with the
// identifier "2" for every change of a person; a second replace of the same person with other
// names is a new request and applied, not answered "repeat"; the identical request sent again
// (a retry after a timeout, with a fresh WS-Security nonce) is a repeat and shown as one in
// the log; and the first names sent again after the change are applied again.
func TestSameMessageIdentifierWithChangedDataIsApplied(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open)
		name := func(want string) {
			t.Helper()
			if got := e.stored("P1").Name; got != want {
				t.Fatalf("stored name %q, want %q", got, want)
			}
		}
		e.post(fixedID(lisReq("replacePerson", personRec("P1", "Ada", "Lovelace", "", "")))).want(t, "replacePerson Ada", "success", "fullsuccess")
		changed := fixedID(lisReq("replacePerson", personRec("P1", "Augusta", "King", "", part("First", "Ada"))))
		e.post(changed).want(t, "replacePerson Augusta, same identifier", "success", "fullsuccess")
		name("Augusta King")
		if p := e.stored("P1"); p.Attrs.Get(PreferredFirst) != "Ada" {
			t.Fatalf("the changed preferred name was not applied: %+v", p.Attrs)
		}
		v := e.status().StateVersion
		// The same request again, as a client resends it: the header's nonce is new.
		retry := strings.Replace(changed, "</o:Password>", "</o:Password><o:Nonce>bm9uY2UtMg==</o:Nonce>", 1)
		e.post(retry).want(t, "the identical replace again", "success", "fullsuccess")
		if s := e.status(); s.StateVersion != v {
			t.Fatalf("an identical resend applied again: %+v", s)
		}
		e.post(fixedID(lisReq("replacePerson", personRec("P1", "Ada", "Lovelace", "", "")))).want(t, "back to Ada, same identifier", "success", "fullsuccess")
		name("Ada Lovelace")
		entries, err := e.st.(store.Live).LiveEntries(context.Background(), store.LiveLogParams{Tenant: e.tenant.ID})
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 4 || entries[2].Description != fmt.Sprintf("repeat of request %d: nothing applied again", entries[1].ID) ||
			strings.HasPrefix(entries[1].Description, "repeat") || strings.HasPrefix(entries[3].Description, "repeat") || entries[3].Updated[0] != 1 {
			t.Fatalf("log: %+v", entries)
		}
	})
}

// TestBusyTenantAnswersTargetIsBusy: while a nightly import holds the tenant's lock a write
// is answered targetisbusy and changes nothing; a read still answers.
func TestBusyTenantAnswersTargetIsBusy(t *testing.T) {
	e := newEnv(t, openSQLite)
	e.h.Service.LockWait = 50 * time.Millisecond
	release, err := e.st.LockTenant(context.Background(), e.tenant.ID, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	e.post(lisReq("replacePerson", personRec("P1", "Ada", "Lovelace", "", ""))).want(t, "replacePerson while locked", "failure", live.TargetIsBusy)
	e.post(lisReq("readPerson", sid("P1"))).want(t, "readPerson while locked", "failure", live.UnknownObject)
	release()
	e.post(lisReq("replacePerson", personRec("P1", "Ada", "Lovelace", "", ""))).want(t, "replacePerson after", "success", "")
}

// TestLiveSafetyFilterRefusesLISDeletesOverTheLimit: D2L's deletePerson comes one person at a
// time; the removals of the last 24 h add up against the tenant's deletes limits as over IMS
// ES 1.0, and the request that crosses them is refused whole (codeMinor deletelimit, nothing
// applied, mailed once) until an allowance lets it through.
func TestLiveSafetyFilterRefusesLISDeletesOverTheLimit(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open)
		var refusals []bool
		e.h.Service.OnRefusal = func(_ string, r live.Refusal) { refusals = append(refusals, r.First) }
		for i := range 30 {
			k := fmt.Sprintf("P%02d", i)
			e.post(lisReq("replacePerson", personRec(k, "N", k, "", ""))).want(t, "replacePerson "+k, "success", "")
		}
		// min_changes is 25: the first 24 deletes never trip; the 25th (25 of 30) does.
		for i := range 24 {
			e.post(lisReq("deletePerson", sid(fmt.Sprintf("P%02d", i)))).want(t, "deletePerson", "success", "")
		}
		v := e.status().StateVersion
		a := e.post(lisReq("deletePerson", sid("P24")))
		a.want(t, "the 25th deletePerson", "failure", live.Refused)
		if !strings.Contains(a.desc, "imsfeed es allow") {
			t.Fatalf("the refusal does not say how to lift it: %q", a.desc)
		}
		e.post(lisReq("deletePerson", sid("P25"))).want(t, "the next deletePerson", "failure", live.Refused)
		if s := e.status(); s.StateVersion != v || s.Persons.Active != 6 {
			t.Fatalf("a refused request applied something: %+v", s)
		}
		if len(refusals) != 2 || !refusals[0] || refusals[1] {
			t.Fatalf("refusals (first in the window?): %v", refusals)
		}
		if err := e.st.(store.Live).LiveAllow(context.Background(), e.tenant.ID, 2, "ops", "leavers", time.Now()); err != nil {
			t.Fatal(err)
		}
		e.post(lisReq("deletePerson", sid("P24"))).want(t, "with an allowance", "success", "")
		if s := e.status(); s.Persons.Active != 5 {
			t.Fatalf("after the allowance: %+v", s)
		}
	})
}
