package importer_test

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/store"
)

// withoutMember drops one member element from the membership element of group.
func withoutMember(t *testing.T, doc, group, member string) string {
	t.Helper()
	head := "<membership>\n    <sourcedid><source>northside-sis</source><id>" + group + "</id></sourcedid>"
	i := strings.Index(doc, head)
	if i < 0 {
		t.Fatalf("no membership of %s", group)
	}
	re := regexp.MustCompile(`(?s)\s*<member>\s*<sourcedid><source>[^<]*</source><id>` + regexp.QuoteMeta(member) + `</id></sourcedid>.*?</member>`)
	loc := re.FindStringIndex(doc[i:])
	if loc == nil {
		t.Fatalf("no member %s in %s", member, group)
	}
	return doc[:i+loc[0]] + doc[i+loc[1]:]
}

// TestRestoreGivesTheObjectBackToTheFeed: after `archive restore` (and `trash restore`), the
// next import sets the course's parents and turns the memberships the file has back to synced,
// so a pupil who later leaves the course loses the membership. The platform's own manual
// membership stays manual.
func TestRestoreGivesTheObjectBackToTheFeed(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open, func(tn *config.Tenant) { tn.Courses.Types = []string{"Course"} })
		night4, night5 := demoNight(t, "night4.xml"), demoNight(t, "night5.xml")
		wantStatus(t, e.imp(e.write("night4.xml", []byte(night4))), runs.Completed)
		if err := e.st.AddManualMembership(ctx, e.tenant.ID, store.ManualMembership{Group: "DRAMA5", Member: "T999", Role: "02", MemberType: 1}); err != nil {
			t.Fatal(err)
		}
		// DRAMA5 ends and pupil P1003 leaves in the same night: the course is archived, the
		// pupil trashed, and their membership of the course kept as manual.
		r := e.imp(e.write("night5.xml", []byte(withoutElement(night5, "person", "P1003"))))
		wantStatus(t, r, runs.Completed)
		if r.Counts.Persons.Deleted != 1 || r.Counts.Groups.Archived != 2 {
			t.Fatalf("night 5: %+v %+v", r.Counts.Persons, r.Counts.Groups)
		}
		drama := func() (parents []string, synced, manual []string) {
			st, err := e.st.LoadState(ctx, e.tenant.ID)
			if err != nil {
				t.Fatal(err)
			}
			for k, m := range st.Memberships.All() {
				if k.Group != "DRAMA5" {
					continue
				}
				if m.Manual {
					manual = append(manual, k.Member)
				} else {
					synced = append(synced, k.Member)
				}
			}
			return st.Groups["DRAMA5"].Parents, synced, manual
		}
		if _, synced, manual := drama(); len(synced) != 0 || len(manual) < 3 {
			t.Fatalf("archived DRAMA5: synced %v manual %v", synced, manual)
		}

		if _, err := e.st.RestoreArchived(ctx, e.tenant.ID, []string{"DRAMA5"}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := e.st.RestoreTrash(ctx, e.tenant.ID, []string{"P1003"}, nil); err != nil {
			t.Fatal(err)
		}
		wantStatus(t, e.imp(e.write("night4-again.xml", []byte(night4))), runs.Completed)
		parents, synced, manual := drama()
		if strings.Join(parents, ",") != "NS-ELM" {
			t.Errorf("restored DRAMA5 has parents %v, want NS-ELM from the file", parents)
		}
		if strings.Join(manual, ",") != "T999" || !contains(synced, "P1003") || !contains(synced, "T102") {
			t.Fatalf("after the next import DRAMA5 has synced %v, manual %v; want the file's memberships synced, the platform's T999 manual", synced, manual)
		}

		// A pupil who leaves the restored course loses the membership.
		r = e.imp(e.write("night4-left.xml", []byte(withoutMember(t, night4, "DRAMA5", "P1004"))))
		wantStatus(t, r, runs.Completed)
		if _, synced, _ := drama(); contains(synced, "P1004") || r.Counts.Memberships.Deleted != 1 {
			t.Fatalf("P1004 left DRAMA5: synced %v, counts %+v", synced, r.Counts.Memberships)
		}
		st, _ := e.st.LoadState(ctx, e.tenant.ID)
		if _, ok := st.Memberships.Get(record.MembershipKey{Group: "DRAMA5", Member: "P1004", Role: "01"}); ok {
			t.Fatal("P1004's membership of DRAMA5 is still stored")
		}
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
