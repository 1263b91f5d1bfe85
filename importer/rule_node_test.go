package importer_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/hierarchy"
	"github.com/imsfeed/imsfeed/importer/ims"
	"github.com/imsfeed/imsfeed/live"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/store"
)

func ruleClub(key, school string) string {
	return `<group>
    <sourcedid><id>` + key + `</id></sourcedid>
    <grouptype><typevalue>Club</typevalue></grouptype>
    <description><short>Club ` + key + `</short></description>
    <extension><schoolcode>` + school + `</schoolcode><schoolname>Name from the club</schoolname></extension>
  </group>
`
}

// TestRuleNodeThatIsAStoredSISGroupIsThatGroup: a place rule's node whose key is a group of
// the SIS that the store has but a delta file (or a live request) does not carry is that group,
// as it would be were the group in the file: the club goes under it and the school keeps its
// name, type, parents and members (it was overwritten by imsfeed's node). A rule node whose
// key is an archived course fails the delta with file, line:column and record, and the live
// request with idallocinusefail, nothing changed. On both stores.
func TestRuleNodeThatIsAStoredSISGroupIsThatGroup(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open, func(tn *config.Tenant) {
			placeTenant(tn)
			tn.Mode = config.ModeAuto
			tn.Mappings = map[string]map[string]string{"groups": {
				"school_code": "string(extension/schoolcode)", "school_name": "string(extension/schoolname)"}}
			tn.Hierarchy.Place = []hierarchy.Rule{{Types: []string{"Club"}, Under: hierarchy.Path{"x.school_code"}, Name: hierarchy.Path{"x.school_name"}}}
		})
		file := func(typ string, body ...string) string {
			return "<enterprise>\n<properties><type>" + typ + "</type></properties>\n" + strings.Join(body, "") + "</enterprise>\n"
		}
		owner := "<group><sourcedid><id>OWN</id></sourcedid><grouptype><typevalue>Owner</typevalue></grouptype><description><short>Owner</short></description></group>\n"
		school := `<group><sourcedid><id>ELM</id></sourcedid><grouptype><typevalue>School</typevalue></grouptype><description><short>Elm school</short></description>` +
			`<relationship relation="1"><sourcedid><id>OWN</id></sourcedid></relationship></group>` + "\n"
		course := `<group><sourcedid><id>OLD</id></sourcedid><grouptype><typevalue>Course</typevalue></grouptype><description><short>Old course</short></description>` +
			`<relationship relation="1"><sourcedid><id>ELM</id></sourcedid></relationship></group>` + "\n"
		person := "<person><sourcedid><id>P1</id></sourcedid><name><fn>Head teacher</fn></name></person>\n"
		member := `<membership><sourcedid><id>ELM</id></sourcedid><member><sourcedid><id>P1</id></sourcedid><idtype>1</idtype><role roletype="02"/></member></membership>` + "\n"

		wantStatus(t, e.imp(e.write("full.xml", []byte(file("full", person, owner, school, course, ruleClub("C1", "ELM"), member)))), runs.Completed)
		load := func() *change.State {
			t.Helper()
			st, err := e.st.LoadState(ctx, e.tenant.ID)
			if err != nil {
				t.Fatal(err)
			}
			return st
		}
		first := load()
		elm := first.Groups["ELM"]
		if p := first.Groups["C1"].Parents; !reflect.DeepEqual(p, []string{"ELM"}) {
			t.Fatalf("C1 under %v after the full file, want ELM (the file's group is the node)", p)
		}

		// A delta with a new club of the school and the course deleted (archived).
		r := e.imp(e.write("delta.xml", []byte(file("delta", ruleClub("C2", "ELM"), `<group recstatus="3"><sourcedid><id>OLD</id></sourcedid></group>`+"\n"))))
		wantStatus(t, r, runs.Completed)
		// And a live request with another.
		m, err := ims.NewMapper(e.tenant.ReaderMappings())
		if err != nil {
			t.Fatal(err)
		}
		svc := &live.Service{Store: e.st}
		lt := &live.Tenant{ID: e.tenant.ID, Courses: e.tenant.Courses, Safety: e.tenant.Safety, Mapper: m, Placement: e.tenant.Placement}
		res := svc.Do(ctx, lt, &live.Request{Dialect: "test", Operation: "createGroup", Type: record.Groups, Action: live.Create, Items: liveGroups(t, ruleClub("C3", "ELM"))})
		if st := res.First(); !st.OK() {
			t.Fatalf("live createGroup C3: %+v", st)
		}
		after := load()
		if g := after.Groups["ELM"]; g.Hash != elm.Hash || g.Name != "Elm school" || g.Own || !reflect.DeepEqual(g.Parents, []string{"OWN"}) {
			t.Errorf("the SIS's school after the delta and the live request: %+v, want it as the full file left it: %+v", g, elm)
		}
		if !after.Groups["imsfeed-archive"].Own {
			t.Error("the stored state does not mark imsfeed's archive node as its own")
		}
		for _, c := range []string{"C2", "C3"} {
			if p := after.Groups[c].Parents; !reflect.DeepEqual(p, []string{"ELM"}) {
				t.Errorf("club %s under %v, want the school ELM", c, p)
			}
		}
		if ms, ok := after.Memberships.Get(record.MembershipKey{Group: "ELM", Member: "P1", Role: "02"}); !ok || ms.Manual {
			t.Errorf("the school's member: %+v (stored %v), want kept, synced", ms, ok)
		}
		if !after.Groups["OLD"].Archived {
			t.Fatal("the course OLD was not archived by the delta")
		}

		// A rule node with the key of the archived course: the delta fails, naming the place.
		bad := file("delta", ruleClub("C4", "OLD"))
		r = e.imp(e.write("bad.xml", []byte(bad)))
		wantStatus(t, r, runs.Failed)
		line := strings.Count(bad[:strings.Index(bad, "<id>C4<")], "\n") // <group> is the line before its <id>
		if r.Error == nil || r.Error.Cause != runs.CauseFile || r.Error.Key != "C4" || r.Error.Line != line ||
			!strings.Contains(r.Error.Message, "bad.xml:") || !strings.Contains(r.Error.Message, "archived course") {
			t.Errorf("error %+v: want bad.xml, line %d, record C4 and the archived course named", r.Error, line)
		}
		// And a live request with one fails whole with idallocinusefail.
		res = svc.Do(ctx, lt, &live.Request{Dialect: "test", Operation: "createGroups", Type: record.Groups, Action: live.Create, Plural: true,
			Items: liveGroups(t, ruleClub("C5", "ELM"), ruleClub("C6", "OLD"))})
		if st := res.First(); st.OK() || st.Minor != live.IDAllocInUse {
			t.Errorf("live createGroups with a rule node that is an archived course: %+v, want idallocinusefail", st)
		}
		if st := load(); !st.Equal(after) {
			t.Error("a delta or live request refused for its rule node changed the state")
		}
	})
}

// TestEmptiedRuleNodeStaysUntilTheNextSnapshot: a live delete of the last group under a rule
// node leaves the node (a live request never deletes a node, see the README); the next nightly
// snapshot, seeing nothing under it, deletes it, one group delete. On both stores.
func TestEmptiedRuleNodeStaysUntilTheNextSnapshot(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open, func(tn *config.Tenant) {
			placeTenant(tn)
			tn.Mappings = map[string]map[string]string{"groups": {
				"school_code": "string(extension/schoolcode)", "school_name": "string(extension/schoolname)"}}
			tn.Hierarchy.Place = []hierarchy.Rule{{Types: []string{"Club"}, Under: hierarchy.Path{"x.school_code"}, Name: hierarchy.Path{"x.school_name"}}}
		})
		owner := "<group><sourcedid><id>OWN</id></sourcedid><grouptype><typevalue>Owner</typevalue></grouptype><description><short>Owner</short></description></group>\n"
		school := `<group><sourcedid><id>ELM</id></sourcedid><grouptype><typevalue>School</typevalue></grouptype><description><short>Elm school</short></description>` +
			`<relationship relation="1"><sourcedid><id>OWN</id></sourcedid></relationship></group>` + "\n"
		wantStatus(t, e.imp(e.write("n1.xml", []byte("<enterprise>\n"+owner+school+ruleClub("C1", "SCH-X")+ruleClub("C2", "ELM")+"</enterprise>\n"))), runs.Completed)
		node := func() (change.GroupState, bool) {
			t.Helper()
			st, err := e.st.LoadState(ctx, e.tenant.ID)
			if err != nil {
				t.Fatal(err)
			}
			g, ok := st.Groups["SCH-X"]
			return g, ok
		}
		if g, ok := node(); !ok || !g.Own {
			t.Fatalf("rule node SCH-X: %+v (stored %v), want imsfeed's", g, ok)
		}
		svc := &live.Service{Store: e.st}
		lt := &live.Tenant{ID: e.tenant.ID, Courses: e.tenant.Courses, Safety: e.tenant.Safety, Placement: e.tenant.Placement}
		if st := svc.Do(ctx, lt, &live.Request{Dialect: "test", Operation: "deleteGroup", Type: record.Groups, Action: live.Delete, Items: []live.Item{{Key: "C1"}}}).First(); !st.OK() {
			t.Fatalf("live deleteGroup C1: %+v", st)
		}
		if _, ok := node(); !ok {
			t.Error("a live request deleted the emptied rule node")
		}
		r := e.imp(e.write("n2.xml", []byte("<enterprise>\n"+owner+school+ruleClub("C2", "ELM")+"</enterprise>\n")))
		wantStatus(t, r, runs.Completed)
		if _, ok := node(); ok || r.Counts.Groups.Deleted != 1 {
			t.Errorf("after the next snapshot the node is stored %v, %d groups deleted; want it deleted, 1", ok, r.Counts.Groups.Deleted)
		}
	})
}
