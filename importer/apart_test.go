package importer_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/importer"
	"github.com/imsfeed/imsfeed/safety"
	"github.com/imsfeed/imsfeed/samples/feedgen"
	"github.com/imsfeed/imsfeed/store"
	"github.com/imsfeed/imsfeed/store/storetest"
)

// TestHeldNightWithItsRemovalsApartIsTheWholePlansHold: a broken night held with its
// membership removals kept apart (not listed in the plan while it is judged, held and mailed)
// stores what the same night held with the whole plan listed stores, as before: the plan's bytes, its page's rows and removals breakdown, the
// run, the status mail, and, approved, the same state. The removals come from many spill
// partitions, the file's memberships from a scratch file, and the plan goes in many parts.
// Also with on_trip hold-removals (the file's inserts and updates applied, the removals held).
// On both stores.
func TestHeldNightWithItsRemovalsApartIsTheWholePlansHold(t *testing.T) {
	defer importer.SetPlanPiece(4096)()
	defer importer.SetSpillBudget(4096)()
	nights, many := brokenNights(t)
	for _, kind := range []string{"sqlite", "postgres"} {
		for _, onTrip := range []safety.OnTrip{safety.Stop, safety.HoldRemovals} {
			t.Run(fmt.Sprintf("%s/%s", kind, onTrip), func(t *testing.T) {
				ctx := context.Background()
				tenant := func(tn *config.Tenant) { tn.Safety.OnTrip = onTrip }
				apartBefore, personsBefore := importer.RemovalsHeldApart(), importer.PersonsHeldApart()
				apart := newHeldWorldWith(t, kind, tenant, importer.ImportOptions{}, nights...)
				n := importer.RemovalsHeldApart() - apartBefore
				if c := apart.held.Counts.Memberships; n != int64(c.Deleted+c.Archived) || n < int64(many) {
					t.Fatalf("%d membership removals held apart; the plan has %d deletes and %d turned manual: want them all apart, and many", n, c.Deleted, c.Archived)
				}
				// The persons going to the trash can, too.
				np := importer.PersonsHeldApart() - personsBefore
				if c := apart.held.Counts.Persons; np != int64(c.Deleted) || np < int64(many)/4 {
					t.Fatalf("%d persons trashed held apart; the plan trashes %d: want them all apart, and many", np, c.Deleted)
				}
				listed := importer.ListRemovals()
				whole := newHeldWorldWith(t, kind, tenant, importer.ImportOptions{}, nights...)
				listed()
				if importer.RemovalsHeldApart()-apartBefore != n || importer.PersonsHeldApart()-personsBefore != np {
					t.Fatalf("the night with its removals listed was held apart too")
				}

				if a, w := apart.held, whole.held; a.Reason != w.Reason || a.Counts != w.Counts || a.PlanSHA256 != w.PlanSHA256 ||
					!reflect.DeepEqual(a.Verdict, w.Verdict) || !reflect.DeepEqual(a.Attention, w.Attention) || !reflect.DeepEqual(a.Warnings, w.Warnings) {
					t.Errorf("held run with the removals apart: reason %q, counts %+v, plan %s; held whole: %q, %+v, %s",
						a.Reason, a.Counts, a.PlanSHA256, w.Reason, w.Counts, w.PlanSHA256)
				}
				if onTrip == safety.HoldRemovals && apart.held.Reason == "" {
					t.Errorf("on_trip hold-removals: the run does not say what was applied")
				}
				if parts := apart.parts(t); parts < 10 {
					t.Fatalf("the plan is in %d parts; want many", parts)
				}
				a, err := apart.im.PlanBytes(ctx, apart.held.ID)
				if err != nil {
					t.Fatal(err)
				}
				w, err := whole.im.PlanBytes(ctx, whole.held.ID)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(a, w) {
					at := 0
					for at < min(len(a), len(w)) && a[at] == w[at] {
						at++
					}
					t.Fatalf("the held plan with the removals apart (%d bytes) differs from the one held whole (%d bytes) at byte %d: %.120q against %.120q",
						len(a), len(w), at, a[at:], w[at:])
				}

				q := store.HeldQuery{AllTypes: true, Limit: 1 << 20}
				ap, err := apart.st.HeldChanges(ctx, apart.held.ID, q)
				if err != nil {
					t.Fatal(err)
				}
				wp, err := whole.st.HeldChanges(ctx, whole.held.ID, q)
				if err != nil {
					t.Fatal(err)
				}
				if ap.All < many || len(ap.Removals) == 0 || !reflect.DeepEqual(ap, wp) {
					t.Errorf("the hold's page with the removals apart: %d changes of %d, %d groups losing members; held whole: %d of %d, %d",
						len(ap.Changes), ap.All, len(ap.Removals), len(wp.Changes), wp.All, len(wp.Removals))
				}

				am, wm := mails(t, apart.outbox), mails(t, whole.outbox)
				if len(am) != 2 || !reflect.DeepEqual(am, wm) {
					t.Errorf("the status mails with the removals apart (%d) differ from those of the plan held whole (%d)", len(am), len(wm))

				}

				storetest.SameState(t, "the tenant after the held night", storetest.Dump(t, apart.st, apart.tenant.ID), storetest.Dump(t, whole.st, whole.tenant.ID))
				apart.approve(t)
				whole.approve(t)
				storetest.SameState(t, "the tenant after the approval", storetest.Dump(t, apart.st, apart.tenant.ID), storetest.Dump(t, whole.st, whole.tenant.ID))
			})
		}
	}
}

// mails are the outbox's mails in the order of their names, each as its subject and the
// decoded bodies of its parts (text, HTML, the CSV of changes): what a reader sees, without
// what differs between two sendings of one mail (its date, message id, MIME boundaries).
func mails(t *testing.T, outbox string) [][]string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(outbox, "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		m, err := mail.ReadMessage(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		seen := []string{m.Header.Get("Subject")}
		if err := mailParts(textproto.MIMEHeader(m.Header), m.Body, &seen); err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		out = append(out, seen)
	}
	return out
}

func mailParts(h textproto.MIMEHeader, body io.Reader, seen *[]string) error {
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		return err
	}
	if strings.HasPrefix(mt, "multipart/") {
		r := multipart.NewReader(body, params["boundary"])
		for {
			p, err := r.NextRawPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := mailParts(p.Header, p, seen); err != nil {
				return err
			}
		}
	}
	switch strings.ToLower(h.Get("Content-Transfer-Encoding")) {
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	*seen = append(*seen, mt+"\n"+string(b))
	return nil
}

// brokenNights writes a tenant's first night and its broken second (half the persons left out,
// a tenth renamed) and says how many removals make "many": under the race detector half the
// tenant, whose removals are still hundreds of times the spill budget, the plan's part and the
// store's piece the tests set.
func brokenNights(t *testing.T) (nights []string, many int) {
	t.Helper()
	persons, groups, many := 1200, 150, 1000
	if underRace {
		persons, groups, many = 600, 75, 500
	}
	dir := t.TempDir()
	for i, o := range []feedgen.Options{{}, {DropPercent: 50, RenamePercent: 10}} {
		o.Persons, o.Groups, o.MembersPerGroup, o.Seed = persons, groups, 20, 18
		var buf bytes.Buffer
		if err := feedgen.Write(&buf, o); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, fmt.Sprintf("night%d.xml", i+1))
		if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		nights = append(nights, p)
	}
	return nights, many
}
