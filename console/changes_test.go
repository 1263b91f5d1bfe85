package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/store"
)

var rowNumber = regexp.MustCompile(`<tr><td class="n">([0-9,]+)</td>`)

// rowsOf returns the numbers of the change rows a page shows.
func rowsOf(page string) []string {
	var out []string
	for _, m := range rowNumber.FindAllStringSubmatch(page, -1) {
		out = append(out, m[1])
	}
	return out
}

// TestHeldRunChangesArePagedAndSearchedOnTheServer: the held run's page lists every change,
// fifty a page, searchable by key and name (the old name too), with each update's fields
// old → new, as an operator reads them.
func TestHeldRunChangesArePagedAndSearchedOnTheServer(t *testing.T) {
	stores(t, func(t *testing.T, st store.Store) {
		w := newWorld(t, st)
		b := w.client()
		b.signIn("kari@example.org", password)
		plan, upd := w.heldPlan()
		all := len(plan.Persons) + len(plan.Groups) + len(plan.Memberships)
		if all <= 100 {
			t.Fatalf("the held plan has too few changes (%d)", all)
		}
		run := fmt.Sprintf("/runs/%d", w.held.ID)
		pages := (all + 49) / 50

		_, page := b.get(run)
		if !strings.Contains(page, fmt.Sprintf("%d changes; page 1 of %d.", all, pages)) || len(rowsOf(page)) != 50 || rowsOf(page)[0] != "1" {
			t.Fatalf("first page: rows %v\n%s", rowsOf(page), page)
		}
		if !strings.Contains(page, `href="`+run+`?page=2#changes" rel="next"`) {
			t.Errorf("first page has no link to the next")
		}
		_, page = b.get(run + "?page=3")
		if r := rowsOf(page); len(r) != 50 || r[0] != "101" || !strings.Contains(page, `?page=2#changes" rel="prev"`) {
			t.Errorf("page 3: rows %v", r)
		}
		_, page = b.get(run + "?page=9999")
		if r := rowsOf(page); len(r) != all-(pages-1)*50 || !strings.Contains(page, fmt.Sprintf("page %d of %d.", pages, pages)) {
			t.Errorf("a page past the end shows the last: rows %v", r)
		}

		// By key: the person and the memberships naming them; the rename shows old → new.
		_, page = b.get(run + "?q=" + url.QueryEscape(strings.ToLower(upd.Person.Key)))
		want := fmt.Sprintf("name: <del>%s</del> → <ins>%s</ins>", html.EscapeString(upd.Old.Name), html.EscapeString(upd.Person.Name))
		if !strings.Contains(page, want) || !strings.Contains(page, fmt.Sprintf(`<td><a href="/tenants/%s/persons/%s">%[2]s</a></td>`, w.tenant, upd.Person.Key)) {
			t.Fatalf("search by key %s does not show %q:\n%s", upd.Person.Key, want, page)
		}
		// By the old name, in capitals, and only persons.
		_, page = b.get(run + "?type=persons&q=" + url.QueryEscape(strings.ToUpper(upd.Old.Name)))
		if !strings.Contains(page, want) || strings.Contains(page, "<td>membership</td>") {
			t.Errorf("search by the old name %q among persons:\n%s", upd.Old.Name, page)
		}
		// Memberships of one group.
		group := plan.Memberships[0].Membership.Group
		n := 0
		for _, m := range plan.Memberships {
			if strings.Contains(strings.ToLower(m.Membership.Group), strings.ToLower(group)) || strings.Contains(strings.ToLower(m.Membership.Member), strings.ToLower(group)) {
				n++
			}
		}
		_, page = b.get(run + "?type=memberships&q=" + url.QueryEscape(group))
		if !strings.Contains(page, fmt.Sprintf("%d of %d changes match", n, all)) {
			t.Errorf("memberships of %s: want %d matches:\n%s", group, n, page)
		}
		// Nothing found, and the query shown back as text, not markup.
		_, page = b.get(run + "?q=" + url.QueryEscape(`<b>nobody</b>`))
		if !strings.Contains(page, "0 of "+fmt.Sprint(all)+" changes match.") || strings.Contains(page, "<b>nobody") || !strings.Contains(page, `&lt;b&gt;nobody`) {
			t.Errorf("a search finding nothing:\n%s", page)
		}
	})
}

// heldPlan decodes the held run's plan and finds a renamed person in it.
func (w *world) heldPlan() (*change.Plan, *change.Person) {
	w.t.Helper()
	data, err := w.im.PlanBytes(context.Background(), w.held.ID)
	if err != nil {
		w.t.Fatal(err)
	}
	var plan change.Plan
	if err := json.Unmarshal(data, &plan); err != nil {
		w.t.Fatal(err)
	}
	for i := range plan.Persons {
		if p := &plan.Persons[i]; p.Op == change.Update && p.Old != nil && p.Old.Name != p.Person.Name {
			return &plan, p
		}
	}
	w.t.Fatal("the held plan renames nobody")
	return nil, nil
}

// TestHoldWithoutRowsIsIndexedOnItsFirstView: a hold made before holds kept their changes as
// rows still shows every change: its first view has them made from the plan, once.
func TestHoldWithoutRowsIsIndexedOnItsFirstView(t *testing.T) {
	stores(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		w := newWorld(t, st)
		data, err := w.im.PlanBytes(ctx, w.held.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.HoldRun(ctx, w.held, store.WholePlan(data), nil); err != nil { // as an older imsfeed held it
			t.Fatal(err)
		}
		plan, _ := w.heldPlan()
		all := len(plan.Persons) + len(plan.Groups) + len(plan.Memberships)
		b := w.client()
		b.signIn("kari@example.org", password)
		_, page := b.get(fmt.Sprintf("/runs/%d", w.held.ID))
		if !strings.Contains(page, fmt.Sprintf("%d changes; page 1 of %d.", all, (all+49)/50)) || len(rowsOf(page)) != 50 || !strings.Contains(page, `id="removals"`) {
			t.Fatalf("first view of a hold without rows:\n%s", page)
		}
		if p, err := st.HeldChanges(ctx, w.held.ID, store.HeldQuery{AllTypes: true}); err != nil || p.All != all {
			t.Errorf("rows kept after the first view: %v, %v", p, err)
		}
	})
}
