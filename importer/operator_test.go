package importer_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imsfeed/imsfeed/importer"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/samples/feedgen"
	"github.com/imsfeed/imsfeed/store"
)

// TestOperatorRestoreIsARun: an operator's restore from the trash can and purge are runs of
// their own in the history (who, what, state versions) and mailed; a refused restore and a
// purge that finds nothing record and mail nothing. On both stores.
func TestOperatorRestoreIsARun(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open, nil)
		wantStatus(t, e.imp(e.file("n1.xml", feedgen.Options{})), runs.Completed)
		wantStatus(t, e.imp(e.file("n2.xml", feedgen.Options{DropPercent: 5})), runs.Completed)
		trash, _ := e.st.ListTrash(ctx, e.tenant.ID)
		if len(trash) < 2 {
			t.Fatalf("trash: %d", len(trash))
		}
		mails := func() int {
			m, _ := filepath.Glob(filepath.Join(e.cfg.Outbox, "*.eml"))
			return len(m)
		}
		runsNow := func() []*runs.Run {
			rs, err := e.st.ListRuns(ctx, store.ListRunsParams{Tenant: e.tenant.ID})
			if err != nil {
				t.Fatal(err)
			}
			return rs
		}
		before, sent := e.status(), mails()

		run, n, err := e.im.Operate(ctx, importer.OperatorRequest{Tenant: e.tenant.ID, From: importer.Trash, Keys: []string{trash[0].Key}, By: "Kari"})
		if err != nil || n != 1 {
			t.Fatalf("restore: %d, %v", n, err)
		}
		if got := runsNow()[0]; got.ID != run.ID || got.Mode != runs.ModeRestore || got.Counts.Persons.Restored != 1 ||
			got.VersionBefore != before.StateVersion || got.VersionAfter != before.StateVersion+1 ||
			!strings.Contains(got.Reason, "1 person(s) restored from the trash can by Kari") {
			t.Errorf("the restore's run: %+v", got)
		}
		if mails() != sent+1 {
			t.Fatalf("the restore was not mailed")
		}
		m, _ := filepath.Glob(filepath.Join(e.cfg.Outbox, "*.eml"))
		var subjects string
		for _, f := range m {
			b, _ := os.ReadFile(f)
			subjects += string(b)
		}
		if !strings.Contains(subjects, "Subject: [imsfeed] "+e.tenant.ID+": 1 person(s) restored from the trash can by") {
			t.Errorf("no mail with the restore's subject:\n%s", subjects)
		}

		// Refused (a key not in the trash can) and a purge that finds nothing: no run, no mail.
		nRuns := len(runsNow())
		if _, _, err := e.im.Operate(ctx, importer.OperatorRequest{Tenant: e.tenant.ID, From: importer.Trash, Keys: []string{trash[0].Key}, By: "Kari"}); err == nil {
			t.Error("restoring a person no longer in the trash can succeeded")
		}
		if run, _, err := e.im.Operate(ctx, importer.OperatorRequest{Tenant: e.tenant.ID, From: importer.Archive, By: "Kari"}); err == nil || run != nil {
			t.Errorf("a restore naming no key: %v, %v; want refused (callers print the run)", run, err)
		}
		if run, n, err := e.im.Operate(ctx, importer.OperatorRequest{Tenant: e.tenant.ID, Purge: true, PurgeBefore: time.Now().Add(-time.Hour), By: "Kari"}); err != nil || run != nil || n != 0 {
			t.Errorf("purge of nothing: %v, %d, %v; want no run", run, n, err)
		}
		if len(runsNow()) != nRuns || mails() != sent+1 {
			t.Errorf("a refused restore or an empty purge was recorded or mailed")
		}

		run, n, err = e.im.Operate(ctx, importer.OperatorRequest{Tenant: e.tenant.ID, Purge: true, Keys: []string{trash[1].Key}, By: "Ola"})
		if err != nil || n != 1 || run == nil || !strings.Contains(run.Reason, "1 person(s) purged from the trash can for good by Ola") {
			t.Fatalf("purge: %+v, %d, %v", run, n, err)
		}
		if e.status().Persons.Trashed != len(trash)-2 {
			t.Errorf("trash after a restore and a purge: %d of %d", e.status().Persons.Trashed, len(trash))
		}
		// Who was purged is in the run's record and its mail, by key and by age alike.
		purgedMail := func(run *runs.Run) string {
			m, _ := filepath.Glob(filepath.Join(e.cfg.Outbox, fmt.Sprintf("*-run%d.eml", run.ID)))
			if len(m) != 1 {
				t.Fatalf("mails of the purge's run %d: %v", run.ID, m)
			}
			b, _ := os.ReadFile(m[0])
			return strings.ReplaceAll(strings.ReplaceAll(string(b), "=\r\n", ""), "=\n", "")
		}
		listed := func(run *runs.Run, keys []string) {
			t.Helper()
			var notice string
			for _, a := range runsNow()[0].Attention {
				if a.Kind == "purged" {
					notice = a.Message
				}
			}
			mail := purgedMail(run)
			for _, k := range keys {
				if !strings.Contains(notice, k) || !strings.Contains(mail, k) {
					t.Errorf("purged %s: not named in the run's notice %q or its mail", k, notice)
				}
			}
			if !strings.Contains(mail, "Purged for good") {
				t.Errorf("the purge's mail does not say who was purged:\n%s", mail)
			}
		}
		listed(run, []string{trash[1].Key})
		var rest []string
		for _, p := range trash[2:] {
			rest = append(rest, p.Key)
		}
		run, n, err = e.im.Operate(ctx, importer.OperatorRequest{Tenant: e.tenant.ID, Purge: true, PurgeBefore: time.Now().Add(time.Hour), By: "Ola"})
		if err != nil || n != len(rest) || run == nil {
			t.Fatalf("purge of the rest by age: %+v, %d, %v", run, n, err)
		}
		listed(run, rest)
	})
}
