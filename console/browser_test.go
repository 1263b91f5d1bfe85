package console_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/imsfeed/imsfeed/live"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/runs"
)

// chromium finds Debian's chromium (scripts/test.sh installs it); without it the browser test
// skips on a laptop and fails under CI.
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no chromium under CI: scripts/test.sh installs Debian's chromium")
	}
	t.Skip("no chromium; `make test` installs Debian's chromium")
	return ""
}

// TestBrowserSignsInAndApprovesAHeldRun drives headless Chromium through the console as an
// operator would: sign in, open the held run, see where the removals come from, search its
// changes for a renamed pupil and see the old and the new name, approve it with a reason, and
// see it completed with her name; restore a person from the trash can; open the renamed pupil's
// page and the run history; send a form without its CSRF token and be refused; sign in as an
// operator of another tenant and see nothing of this one. All on a phone-sized screen and with
// the page's JavaScript turned off (the console needs none). Screenshots of each page go to
// the folder the test logs ($IMSFEED_SCREENSHOTS, else a temporary one).
func TestBrowserSignsInAndApprovesAHeldRun(t *testing.T) {
	bin := chromium(t)
	w := newWorld(t, sqliteStore(t))
	_, renamed := w.heldPlan()
	// Two live requests for the live channel's log: one answered, one not.
	svc := &live.Service{Store: w.st, LockWait: time.Minute}
	for _, key := range []string{renamed.Person.Key, "nobody"} {
		svc.Do(context.Background(), &live.Tenant{ID: w.tenant}, &live.Request{Dialect: "imses1", Operation: "readPerson",
			Type: record.Persons, Action: live.Read, Items: []live.Item{{Key: key}}})
	}
	shots := os.Getenv("IMSFEED_SCREENSHOTS")
	if shots == "" {
		shots = filepath.Join(os.TempDir(), "imsfeed-console-screenshots")
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", shots)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("ignore-certificate-errors", true),       // httptest's own certificate
		chromedp.Flag("blink-settings", "scriptEnabled=false"), // the console works without JavaScript
		chromedp.WindowSize(412, 915))                          // a phone
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	// The first Run starts the browser and must not carry the timeout (it would stop it).
	// Headless Chromium keeps its window at least 500 pixels wide: the phone is emulated.
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(412, 915, chromedp.EmulatePortrait, chromedp.EmulateMobile, chromedp.EmulateTouch),
		chromedp.Navigate(w.srv.URL+"/")); err != nil {
		t.Fatalf("chromium %s: %v", bin, err)
	}
	ctx, cancel := context.WithTimeout(bctx, 90*time.Second)
	defer cancel()

	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			png, err := chromedp.FullScreenshot(100)(ctx, t)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644)
		})
	}
	var wrong, tenants, held, found, matched, status, approval, restored, person string
	var history, trashBefore, forged, olas, olasRun string
	var tokens int
	var liveLog string
	err := chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.CSS(`input[name=login]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=login]`), "kari@example.org"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "not her password"),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`p.error`)),
		into(chromedp.Text(chromedp.CSS(`p.error`)), &wrong),
		shot("01-wrong-password"),
		chromedp.SendKeys(chromedp.CSS(`input[name=login]`), "kari@example.org"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), password),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`table`)),
		into(chromedp.Text(chromedp.CSS(`main`)), &tenants),
		shot("02-tenants"),
		chromedp.Click(chromedp.CSS(`a.held`)),
		chromedp.WaitVisible(chromedp.CSS(`#removals`)),
		into(chromedp.Text(chromedp.CSS(`main`)), &held),
		shot("03-held-run"),
		chromedp.SendKeys(chromedp.CSS(`input[name=q]`), renamed.Person.Key),
		chromedp.Submit(chromedp.CSS(`input[name=q]`)),
		chromedp.WaitVisible(chromedp.CSS(`form.search a`)), // "show all": the answer to the search
		into(chromedp.Text(chromedp.CSS(`#change-list`)), &found),
		into(chromedp.Text(chromedp.CSS(`#matched`)), &matched),
		shot("04-search"),
		chromedp.SendKeys(chromedp.CSS(`form[action$="/approve"] textarea`), "pupils moved to another school owner"),
		chromedp.Click(chromedp.CSS(`button[name=approve]`)),
		chromedp.WaitVisible(chromedp.CSS(`#approval`)),
		into(chromedp.Text(chromedp.CSS(`#status`)), &status),
		into(chromedp.Text(chromedp.CSS(`#approval`)), &approval),
		shot("05-approved"),
		// The approval put persons into the trash can: tick one and restore it.
		chromedp.Navigate(w.srv.URL+"/tenants/"+w.tenant+"/trash"),
		chromedp.WaitVisible(chromedp.CSS(`#items`)),
		chromedp.Click(chromedp.CSS(`#items input[name=key]`)),
		chromedp.Click(chromedp.CSS(`button[name=restore]`)),
		chromedp.WaitVisible(chromedp.CSS(`#restored`)),
		into(chromedp.Text(chromedp.CSS(`#restored`)), &restored),
		shot("06-trash-restored"),
		// The renamed pupil's page: what the store holds of her now.
		chromedp.Navigate(w.srv.URL+"/tenants/"+w.tenant+"/persons/"+renamed.Person.Key),
		chromedp.WaitVisible(chromedp.CSS(`#person`)),
		into(chromedp.Text(chromedp.CSS(`#person`)), &person),
		shot("07-person"),
		// The tenant's run history.
		chromedp.Navigate(w.srv.URL+"/tenants/"+w.tenant),
		chromedp.WaitVisible(chromedp.CSS(`#runs`)),
		into(chromedp.Text(chromedp.CSS(`#runs`)), &history),
		shot("08-run-history"),
		chromedp.Navigate(w.srv.URL+"/tenants/"+w.tenant+"/live"),
		chromedp.WaitVisible(chromedp.CSS(`#live`)),
		into(chromedp.Text(chromedp.CSS(`#live`)), &liveLog),
		shot("09-live-requests"),
		// A form whose CSRF token is gone (a forged POST from another site has none) is
		// refused, and restores nothing.
		chromedp.Navigate(w.srv.URL+"/tenants/"+w.tenant+"/trash"),
		chromedp.WaitVisible(chromedp.CSS(`#items`)),
		into(chromedp.Text(chromedp.CSS(`#matched`)), &trashBefore),
		into(chromedp.Evaluate[int](`(() => { const l = document.querySelectorAll('input[name=csrf]'); l.forEach(e => e.remove()); return l.length })()`), &tokens),
		chromedp.Click(chromedp.CSS(`#items input[name=key]`)),
		chromedp.Click(chromedp.CSS(`button[name=restore]`)),
		chromedp.WaitVisible(chromedp.CSS(`#problem`)),
		into(chromedp.Text(chromedp.CSS(`main`)), &forged),
		shot("10-forged-post-refused"),
		// Ola is an operator of another tenant only: she sees nothing of this one.
		chromedp.Navigate(w.srv.URL+"/"),
		chromedp.Click(chromedp.CSS(`header button`)), // sign out
		chromedp.WaitVisible(chromedp.CSS(`input[name=login]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=login]`), "ola@example.org"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), password),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#tenants`)),
		into(chromedp.Text(chromedp.CSS(`main`)), &olas),
		shot("11-other-tenants-operator"),
		chromedp.Navigate(fmt.Sprintf("%s/runs/%d", w.srv.URL, w.held.ID)),
		chromedp.WaitVisible(chromedp.CSS(`#problem`)),
		into(chromedp.Text(chromedp.CSS(`main`)), &olasRun),
		shot("12-not-found"),
	)
	if err != nil {
		dctx, c2 := context.WithTimeout(bctx, 10*time.Second)
		defer c2()
		var loc, text string
		_ = chromedp.Do(dctx, into(chromedp.Location(), &loc), into(chromedp.Text(chromedp.CSS("body")), &text), shot("failed"))
		t.Fatalf("browser: %v\nat %s:\n%s", err, loc, text)
	}
	if !strings.Contains(wrong, "Wrong name or password") {
		t.Errorf("wrong password says %q", wrong)
	}
	if !strings.Contains(tenants, "Northside school owner") || !strings.Contains(tenants, fmt.Sprintf("run %d", w.held.ID)) {
		t.Errorf("tenants page:\n%s", tenants)
	}
	if !strings.Contains(held, "Where the removals come from") || !strings.Contains(held, "Limits crossed") {
		t.Errorf("held run page:\n%s", held)
	}
	if want := renamed.Old.Name + " → " + renamed.Person.Name; !strings.Contains(found, want) || !strings.Contains(matched, "changes match") {
		t.Errorf("searching the changes for %s: want %q in\n%s\n%s", renamed.Person.Key, want, matched, found)
	}
	if status != "completed" || !strings.Contains(approval, "Kari Nordmann") {
		t.Errorf("after approval: status %q, %q", status, approval)
	}
	if !strings.Contains(restored, "Restored 1 person(s)") {
		t.Errorf("after restoring from the trash can: %q", restored)
	}
	if !strings.Contains(person, renamed.Person.Name) || !strings.Contains(person, "Preferred first name") {
		t.Errorf("the person page of %s:\n%s", renamed.Person.Key, person)
	}
	if !strings.Contains(liveLog, "readPerson") || !strings.Contains(liveLog, "failure/unknownobject") {
		t.Errorf("live requests:\n%s", liveLog)
	}
	if !strings.Contains(history, "completed") || !strings.Contains(history, "n2.xml") {
		t.Errorf("run history:\n%s", history)
	}
	if tokens == 0 || !strings.Contains(forged, "Refused") || !strings.Contains(forged, "did not come from the console") {
		t.Errorf("a POST without the CSRF token: %q", forged)
	}
	if trash, err := w.st.ListTrash(context.Background(), w.tenant); err != nil || !strings.Contains(trashBefore, fmt.Sprintf("%d person(s) in the trash can", len(trash))) {
		t.Errorf("the forged restore changed the trash can: before %q, now %d %v", trashBefore, len(trash), err)
	}
	if strings.Contains(olas, "Northside") || !strings.Contains(olas, "Southside") {
		t.Errorf("Ola's tenants page:\n%s", olas)
	}
	if !strings.Contains(olasRun, "Not found") || strings.Contains(olasRun, "Northside") {
		t.Errorf("Ola opening the other tenant's run:\n%s", olasRun)
	}
	r, err := w.st.Run(context.Background(), w.held.ID)
	if err != nil || r.Status != runs.Completed || r.Approval == nil || r.Approval.By != "Kari Nordmann" {
		t.Fatalf("stored run after the browser's approval: %+v %v", r, err)
	}
}

// into runs an action and keeps its value.
func into[T any](a chromedp.Action[T], dst *T) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		v, err := a(ctx, t)
		*dst = v
		return err
	})
}
