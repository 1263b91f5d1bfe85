package imses

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/importer/ims"
	"github.com/imsfeed/imsfeed/record"
)

// One value, one meaning: every field an IMS ES request and an IMS Enterprise 1.1 file both
// carry becomes the same attribute with the same content hash. Each case is one field, in the
// form a live client sends it and the form a nightly file holds it.

type collect struct {
	persons     []*record.Person
	groups      []*record.Group
	memberships []*record.Membership
}

func (c *collect) Person(p *record.Person) error { c.persons = append(c.persons, p); return nil }
func (c *collect) Group(g *record.Group) error   { c.groups = append(c.groups, g); return nil }
func (c *collect) Membership(m *record.Membership) error {
	c.memberships = append(c.memberships, m)
	return nil
}

func readFile(t *testing.T, xml string) *collect {
	t.Helper()
	var c collect
	if _, err := ims.Read(context.Background(), strings.NewReader("<enterprise>"+xml+"</enterprise>"), "night.xml", ims.Options{Mode: ims.ModeEvent}, &c); err != nil {
		t.Fatalf("nightly form does not read: %v", err)
	}
	return &c
}

func esNode(t *testing.T, xml string) *node {
	t.Helper()
	n, err := parse(strings.NewReader(xml))
	if err != nil {
		t.Fatalf("live form does not parse: %v", err)
	}
	return n
}

func TestPersonFieldsMeanTheSameLiveAndNightly(t *testing.T) {
	cases := []struct{ field, es, file string }{
		{"given and family name",
			`<name><partName><namePartType>First</namePartType><namePartValue>Erika</namePartValue></partName><partName><namePartType>Last</namePartType><namePartValue>Mustermann</namePartValue></partName></name>`,
			`<name><n><family>Mustermann</family><given>Erika</given></n></name>`},
		{"formatted name",
			`<formatName>Erika M.</formatName>`,
			`<name><fn>Erika M.</fn></name>`},
		{"middle name, prefix, suffix",
			`<name><partName><namePartType>Middle</namePartType><namePartValue>Maria</namePartValue></partName><partName><namePartType>Prefix</namePartType><namePartValue>Dr.</namePartValue></partName><partName><namePartType>Suffix</namePartType><namePartValue>Jr.</namePartValue></partName></name>`,
			`<name><n><other>Maria</other><prefix>Dr.</prefix><suffix>Jr.</suffix></n></name>`},
		{"nickname", `<name><partName><namePartType>Nickname</namePartType><namePartValue>Eri</namePartValue></partName></name>`,
			`<name><nickname>Eri</nickname></name>`},
		{"other name part", `<name><partName><namePartType>Initials</namePartType><namePartValue>E.M.</namePartValue></partName></name>`,
			`<name><n><partname partnametype="Initials">E.M.</partname></n></name>`},
		{"email", `<email>erika@example.org</email>`, `<email>erika@example.org</email>`},
		{"url", `<url>https://example.org/~erika</url>`, `<url>https://example.org/~erika</url>`},
		{"telephone", `<tel><telType>Mobile</telType><telValue>+49 170 1</telValue></tel>`, `<tel teltype="Mobile">+49 170 1</tel>`},
		{"voice telephone", `<tel><telType>Voice</telType><telValue>030 1</telValue></tel>`, `<tel teltype="1">030 1</tel>`},
		{"gender", `<demographics><gender>Female</gender></demographics>`, `<demographics><gender>1</gender></demographics>`},
		{"birthday", `<demographics><bday>2012-05-01T00:00:00</bday></demographics>`, `<demographics><bday>2012-05-01</bday></demographics>`},
		{"user id", `<userId><userIdValue>erika.m</userIdValue></userId>`, `<userid>erika.m</userid>`},
		{"typed user id", `<userId><userIdValue>4711</userIdValue><userIdType>SchoolID</userIdType></userId>`, `<userid useridtype="SchoolID">4711</userid>`},
		{"password (as a digest in the hash)", `<userId><userIdValue>erika.m</userIdValue><passWord>s3cret&amp;</passWord></userId>`,
			`<userid password="s3cret&amp;">erika.m</userid>`},
		{"institution role", `<institutionRole><institutionRoleType>Student</institutionRoleType><primaryRoleType>true</primaryRoleType></institutionRole>`,
			`<institutionrole primaryrole="Yes" institutionroletype="Student"/>`},
		{"secondary institution role", `<institutionRole><institutionRoleType>Staff</institutionRoleType><primaryRoleType>false</primaryRoleType></institutionRole>`,
			`<institutionrole primaryrole="No" institutionroletype="Staff"/>`},
		{"system role", `<systemRole><systemRoleType>User</systemRoleType></systemRole>`, `<systemrole systemroletype="User"/>`},
		{"extension field", `<extension><extensionField><fieldName>passwordchange</fieldName><fieldType>String</fieldType><fieldValue>NotAllowed</fieldValue></extensionField></extension>`,
			`<extension><passwordchange>NotAllowed</passwordchange></extension>`},
	}
	for _, c := range cases {
		t.Run(c.field, func(t *testing.T) {
			live, _ := personFrom("P1", esNode(t, `<person>`+c.es+`</person>`))
			f := readFile(t, `<person><sourcedid><id>P1</id></sourcedid>`+c.file+`</person>`)
			if len(f.persons) != 1 {
				t.Fatal("the nightly form has no person")
			}
			night := f.persons[0]
			if live.Name != night.Name || !reflect.DeepEqual(live.Attrs, night.Attrs) || live.Hash != night.Hash {
				t.Fatalf("live and nightly differ:\nlive  %q %v %s\nnight %q %v %s", live.Name, live.Attrs, live.Hash, night.Name, night.Attrs, night.Hash)
			}
		})
	}
	// A whole person of the real client: the createPerson of the corpus.
	t.Run("the corpus createPerson", func(t *testing.T) {
		env, ferr := readEnvelope([]byte(corpus(t, "001-createPerson.xml")))
		if ferr != nil {
			t.Fatal(ferr.Msg)
		}
		live, _ := personFrom("P1", env.body.Child("person"))
		f := readFile(t, `<person><sourcedid><source>sis</source><id>P1</id></sourcedid><name><fn>Erika Mustermann</fn><n><family>Mustermann</family><given>Erika</given></n></name>
<email>erika.mustermann@example.org</email><userid>erika.mustermann</userid><institutionrole primaryrole="Yes" institutionroletype="Student"/>
<extension><passwordchange>NotAllowed</passwordchange></extension></person>`)
		night := f.persons[0]
		night.Source = "" // IMS ES has no source: a tenant keyed by id alone
		night.ComputeHash()
		if live.Name != night.Name || !reflect.DeepEqual(live.Attrs, night.Attrs) || live.Hash != night.Hash {
			t.Fatalf("live and nightly differ:\nlive  %q %v\nnight %q %v", live.Name, live.Attrs, night.Name, night.Attrs)
		}
	})
}

func TestGroupFieldsMeanTheSameLiveAndNightly(t *testing.T) {
	cases := []struct{ field, es, file string }{
		{"group type", `<groupType><scheme>ItslearningOrganisationTypes</scheme><typeValue><type>Course</type><level>1</level></typeValue></groupType>`,
			`<grouptype><scheme>ItslearningOrganisationTypes</scheme><typevalue level="1">Course</typevalue></grouptype>`},
		{"parent", `<relationship><relation>Parent</relation><sourceId><identifier>SCHOOL1</identifier></sourceId></relationship>`,
			`<relationship relation="1"><sourcedid><id>SCHOOL1</id></sourcedid></relationship>`},
		{"self parent (a root)", `<relationship><relation>Parent</relation><sourceId><identifier>G1</identifier></sourceId></relationship>`,
			`<relationship relation="1"><sourcedid><id>G1</id></sourcedid></relationship>`},
		{"description", `<description><descShort>Mathe 7a</descShort><descLong>Mathematik 7a</descLong><descFull>Kurs Mathematik</descFull></description>`,
			`<description><short>Mathe 7a</short><long>Mathematik 7a</long><full>Kurs Mathematik</full></description>`},
		{"long description only", `<description><descLong>Mathematik 7a</descLong></description>`, `<description><long>Mathematik 7a</long></description>`},
		{"timeframe", `<timeframe><begin>2026-08-01</begin><end>2027-07-31</end></timeframe>`, `<timeframe><begin>2026-08-01</begin><end>2027-07-31</end></timeframe>`},
		{"email", `<email>7a@example.org</email>`, `<email>7a@example.org</email>`},
		{"extension field", `<extension><extensionField><fieldName>course</fieldName><fieldType>String</fieldType><fieldValue>Mathe 7a</fieldValue></extensionField></extension>`,
			`<extension><course>Mathe 7a</course></extension>`},
	}
	for _, c := range cases {
		t.Run(c.field, func(t *testing.T) {
			live, _ := groupFrom("G1", esNode(t, `<group>`+c.es+`</group>`))
			f := readFile(t, `<group><sourcedid><id>G1</id></sourcedid>`+c.file+`</group>`)
			night := f.groups[0]
			if live.Name != night.Name || !reflect.DeepEqual(live.Attrs, night.Attrs) || !reflect.DeepEqual(live.Types, night.Types) ||
				!reflect.DeepEqual(live.Parents, night.Parents) || live.SelfParent != night.SelfParent || live.Hash != night.Hash {
				t.Fatalf("live and nightly differ:\nlive  %+v\nnight %+v", *live, *night)
			}
		})
	}
}

func TestMembershipFieldsMeanTheSameLiveAndNightly(t *testing.T) {
	cases := []struct{ field, es, file string }{
		{"learner", `<member><memberSourcedId><identifier>P1</identifier></memberSourcedId><role><roleType>Learner</roleType></role></member>`,
			`<member><sourcedid><id>P1</id></sourcedid><idtype>1</idtype><role roletype="01"/></member>`},
		{"instructor with subrole and timeframe", `<member><memberSourcedId><identifier>P1</identifier></memberSourcedId><role><roleType>Instructor</roleType><subRole>Primary</subRole><timeFrame><begin>2026-08-01</begin><end>2027-07-31</end></timeFrame></role></member>`,
			`<member><sourcedid><id>P1</id></sourcedid><idtype>1</idtype><role roletype="Instructor"><subrole>Primary</subrole><timeframe><begin>2026-08-01</begin><end>2027-07-31</end></timeframe></role></member>`},
		{"group member", `<member><memberSourcedId><identifier>G2</identifier></memberSourcedId><idType>Group</idType><role><roleType>Member</roleType></role></member>`,
			`<member><sourcedid><id>G2</id></sourcedid><idtype>2</idtype><role roletype="04"/></member>`},
		{"extension field", `<member><memberSourcedId><identifier>P1</identifier></memberSourcedId><role><roleType>Learner</roleType><extension><extensionField><fieldName>grade</fieldName><fieldValue>7</fieldValue></extensionField></extension></role></member>`,
			`<member><sourcedid><id>P1</id></sourcedid><idtype>1</idtype><role roletype="01"><extension><grade>7</grade></extension></role></member>`},
	}
	for _, c := range cases {
		t.Run(c.field, func(t *testing.T) {
			live, _, problem := membershipsFrom(esNode(t, `<membership><groupSourcedId><identifier>G1</identifier></groupSourcedId>`+c.es+`</membership>`))
			if problem != "" {
				t.Fatal(problem)
			}
			f := readFile(t, `<membership><sourcedid><id>G1</id></sourcedid>`+c.file+`</membership>`)
			night := f.memberships[0]
			if len(live) != 1 || live[0].MembershipKey != night.MembershipKey || live[0].MemberType != night.MemberType ||
				!reflect.DeepEqual(live[0].Attrs, night.Attrs) || live[0].Hash != night.Hash {
				t.Fatalf("live and nightly differ:\nlive  %+v\nnight %+v", live, *night)
			}
		})
	}
}
