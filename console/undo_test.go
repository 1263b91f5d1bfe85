package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/importer"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/store"
)

// TestUndoAnAppliedRunInTheConsole: the approved night is undone from its page as the signed-in
// operator; the earlier night's undo is refused with the later run named; a POST without the
// CSRF token and an operator who does not see the tenant change nothing.
func TestUndoAnAppliedRunInTheConsole(t *testing.T) {
	stores(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		w := newWorld(t, st)
		before, err := st.Status(ctx, w.tenant)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.im.Approve(ctx, importer.Decision{RunID: w.held.ID, By: "test", Reason: "test"}); err != nil {
			t.Fatal(err)
		}
		if s, _ := st.Status(ctx, w.tenant); s.Persons.Trashed == 0 {
			t.Fatal("the approved night trashed nobody")
		}
		// The first night is the tenant's completed run before the held one (run numbers are
		// shared with other tenants, which other test packages fill on the same PostgreSQL).
		var first int64
		done, err := st.ListRuns(ctx, store.ListRunsParams{Tenant: w.tenant, Status: []runs.Status{runs.Completed}})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range done {
			if r.ID < w.held.ID && r.ID > first {
				first = r.ID
			}
		}
		if first == 0 {
			t.Fatalf("no completed first night before run %d: %d completed runs", w.held.ID, len(done))
		}
		applied := fmt.Sprintf("/runs/%d", w.held.ID)

		// Ola does not see the tenant: its runs do not exist for her.
		ola := w.client()
		ola.signIn("ola@example.org", password)
		_, page := ola.get("/tenants/" + w.other)
		if code, _ := ola.post(applied+"/undo", url.Values{"csrf": {csrfOf(t, page)}, "reason": {"mine now"}}); code != http.StatusNotFound {
			t.Fatalf("undo of another tenant's run: %d, want 404", code)
		}

		b := w.client()
		b.signIn("kari@example.org", password)
		code, page := b.get(applied)
		if code != 200 || !strings.Contains(page, `id="undo-form"`) || !strings.Contains(page, "Undo this run as Kari Nordmann") || !strings.Contains(page, `name="cascade"`) {
			t.Fatalf("applied run's page has no undo form (%d):\n%s", code, page)
		}
		tok := csrfOf(t, page)
		for _, form := range []url.Values{{"reason": {"ok"}}, {"reason": {"ok"}, "csrf": {"forged"}}} {
			if code, _ := b.post(applied+"/undo", form); code != http.StatusForbidden {
				t.Fatalf("undo with csrf %q: %d, want 403", form.Get("csrf"), code)
			}
		}
		if code, _ := b.post(applied+"/undo", url.Values{"csrf": {tok}, "reason": {" "}}); code != http.StatusUnprocessableEntity {
			t.Fatalf("undo without a reason: %d", code)
		}
		if r, _ := st.Run(ctx, w.held.ID); r.UndoneBy != 0 {
			t.Fatalf("a refused POST undid the run (by run %d)", r.UndoneBy)
		}

		// The first night is not the latest applied change: refused, and the page says which came after.
		code, page = b.post(fmt.Sprintf("/runs/%d/undo", first), url.Values{"csrf": {tok}, "reason": {"wrong night"}})
		if code != http.StatusConflict || !strings.Contains(page, "not the tenant&#39;s latest applied change") ||
			!strings.Contains(page, fmt.Sprintf("after it came run %d", w.held.ID)) || !strings.Contains(page, "wrong night") {
			t.Fatalf("undo of the earlier night (%d):\n%s", code, page)
		}

		code, loc := b.post(applied+"/undo", url.Values{"csrf": {tok}, "reason": {"the export lost a school"}})
		if code != http.StatusSeeOther || loc == applied || !strings.HasPrefix(loc, "/runs/") {
			t.Fatalf("undo: %d %s", code, loc)
		}
		var undoID int64
		fmt.Sscanf(loc, "/runs/%d", &undoID)
		u, err := st.Run(ctx, undoID)
		if err != nil {
			t.Fatal(err)
		}
		if u.Mode != runs.ModeUndo || u.Undo == nil || u.Undo.By != "Kari Nordmann" || u.Undo.Reason != "the export lost a school" || len(u.Undo.Runs) != 1 || u.Undo.Runs[0] != w.held.ID {
			t.Fatalf("the undo run: mode %q, undo %+v", u.Mode, u.Undo)
		}
		if r, _ := st.Run(ctx, w.held.ID); r.UndoneBy != undoID {
			t.Fatalf("the undone run names undo run %d, want %d", r.UndoneBy, undoID)
		}
		after, err := st.Status(ctx, w.tenant)
		if err != nil {
			t.Fatal(err)
		}
		if after.Persons != before.Persons || after.Groups != before.Groups || after.Memberships != before.Memberships {
			t.Fatalf("state after the undo:\n%+v\nbefore the approved night:\n%+v", after, before)
		}
		_, page = b.get(loc)
		if !strings.Contains(page, `id="undo">Undone by <strong>Kari Nordmann</strong>`) || !strings.Contains(page, "the export lost a school") {
			t.Fatalf("the undo run's page:\n%s", page)
		}
		_, page = b.get(applied)
		if !strings.Contains(page, fmt.Sprintf(`id="undone-by">Undone: <a href="/runs/%d">`, undoID)) || strings.Contains(page, `id="undo-form"`) {
			t.Fatalf("the undone run's page:\n%s", page)
		}
	})
}
