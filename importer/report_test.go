package importer_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/archive"
	"github.com/imsfeed/imsfeed/importer"
	"github.com/imsfeed/imsfeed/live"
	"github.com/imsfeed/imsfeed/live/lis"
	"github.com/imsfeed/imsfeed/mailer"
	"github.com/imsfeed/imsfeed/safety"
	"github.com/imsfeed/imsfeed/samples/feedgen"
	"github.com/imsfeed/imsfeed/store"
)

// lastMail renders what the importer hands the real mailer, and keeps the last one.
type lastMail struct {
	inner *mailer.Mailer
	r     *mailer.Rendered
}

func (m *lastMail) Send(ctx context.Context, msg mailer.Message) (mailer.Result, error) {
	r, err := mailer.Render(msg)
	if err != nil {
		return mailer.Result{}, err
	}
	m.r = r
	return m.inner.Send(ctx, msg)
}

// The status mail's CSV names the members of removed memberships and says how a renamed
// person's name changed, though the file no longer has them and the plan holds only keys.
func TestStatusCSVNamesWhatThePlanOnlyKeys(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open, nil)
		mail := &lastMail{inner: mailer.New(nil, e.cfg.Outbox, nil)}
		e.im = importer.New(importer.Params{Config: e.cfg, Store: e.st, Mailer: mail})
		e.imp(e.file("n1.xml", feedgen.Options{Night: 1}))
		e.imp(e.file("n2.xml", feedgen.Options{Night: 2, RenamePercent: 2}))
		if mail.r == nil || mail.r.CSV == nil {
			t.Fatal("no CSV in the second night's mail")
		}
		rows, err := csv.NewReader(bytes.NewReader(mail.r.CSV)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		var deletes, renames int
		for _, row := range rows[1:] {
			switch {
			case row[0] == "membership" && row[1] == "delete":
				deletes++
				if row[5] == "" || row[7] == "" {
					t.Errorf("removed membership without names: %q", row)
				}
			case row[0] == "person" && row[1] == "update":
				// feedgen renames the family name: the name and name.family change.
				if !strings.HasPrefix(row[10], "name: ") || !strings.Contains(row[10], "; name.family: ") || !strings.Contains(row[10], " → ") {
					t.Errorf("update without its changes old → new: %q", row)
				}
				renames++
			}
		}
		if deletes == 0 || renames == 0 {
			t.Errorf("night 2's CSV has %d membership deletes and %d renames; the test needs both", deletes, renames)
		}
	})
}

// TestStatusCSVShowsPreferredNames: the status mail's CSV has a person's preferred first and
// last name in columns of their own: a nickname from the nightly file, and preferred names a
// LIS 2.0 client set (the update that changes them lists them old → new).
func TestStatusCSVShowsPreferredNames(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open, nil)
		mail := &lastMail{inner: mailer.New(nil, e.cfg.Outbox, nil)}
		e.im = importer.New(importer.Params{Config: e.cfg, Store: e.st, Mailer: mail})

		// P1 comes over LIS 2.0 with both preferred names.
		tenant := &live.Tenant{ID: e.tenant.ID, Courses: archive.DefaultCoursePolicy(), Safety: safety.DefaultPolicy()}
		h := &lis.Handler{Service: &live.Service{Store: e.st}, Auth: live.NewAuth([]live.Credential{{Username: "ilp", Password: "ilp-pass", Tenant: tenant}})}
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		ts := func(v string) string { return `<textString>` + v + `</textString>` }
		part := func(n, v string) string {
			return `<partName><instanceName>` + ts(n) + `</instanceName><instanceValue>` + ts(v) + `</instanceValue></partName>`
		}
		const ns = "http://www.imsglobal.org/services/lis/pms2p0/wsdl11/sync/imspms_v2p0"
		body := `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header><h:imsx_syncRequestHeaderInfo xmlns:h="` + ns + `">` +
			`<h:imsx_version>V1.0</h:imsx_version><h:imsx_messageIdentifier>2</h:imsx_messageIdentifier></h:imsx_syncRequestHeaderInfo></s:Header>` +
			`<s:Body><replacePersonRequest xmlns="` + ns + `"><sourcedId>P1</sourcedId><personRecord><person>` +
			`<name><nameType><instanceValue>` + ts("Full") + `</instanceValue></nameType>` + part("First", "Beatrice") + part("Last", "Bauer") + `</name>` +
			`<name><nameType><instanceValue>` + ts("Preferred") + `</instanceValue></nameType>` + part("First", "Ann") + part("Last", "Anders") + `</name>` +
			`</person></personRecord></replacePersonRequest></s:Body></s:Envelope>`
		req, _ := http.NewRequest("POST", srv.URL+lis.Path, strings.NewReader(body))
		req.Header.Set("Content-Type", "text/xml; charset=utf-8")
		req.SetBasicAuth("ilp", "ilp-pass")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(answer), "<imsx_codeMajor>success</imsx_codeMajor>") {
			t.Fatalf("LIS 2.0 replacePerson: %s", answer)
		}

		// The nightly file: P1 with a new email and only the preferred first name (as a
		// nickname), P2 new with a nickname.
		e.imp(e.write("n1.xml", []byte(`<enterprise>`+
			`<person><sourcedid><id>P1</id></sourcedid><name><fn>Beatrice Bauer</fn><nickname>Ann</nickname><n><family>Bauer</family><given>Beatrice</given></n></name><email>bb@example.org</email></person>`+
			`<person><sourcedid><id>P2</id></sourcedid><name><fn>Kari Berg</fn><nickname>Kit</nickname><n><family>Berg</family><given>Kari</given></n></name></person>`+
			`</enterprise>`)))
		if mail.r == nil || mail.r.CSV == nil {
			t.Fatal("no CSV in the night's mail")
		}
		rows, err := csv.NewReader(bytes.NewReader(mail.r.CSV)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		col := map[string]int{}
		for i, h := range rows[0] {
			col[strings.TrimPrefix(h, "\ufeff")] = i
		}
		pf, pl, ch := col["preferred_first"], col["preferred_last"], col["changes"]
		if pf == 0 || pl == 0 || pf < ch || pl < ch {
			t.Fatalf("CSV header %q: preferred_first and preferred_last must follow the existing columns", rows[0])
		}
		got := map[string][]string{}
		for _, row := range rows[1:] {
			if row[0] == "person" {
				got[row[2]] = row
			}
		}
		if r := got["P2"]; r == nil || r[1] != "insert" || r[pf] != "Kit" || r[pl] != "" {
			t.Errorf("P2 from the file: %q", r)
		}
		if r := got["P1"]; r == nil || r[1] != "update" || r[pf] != "Ann" || r[pl] != "" ||
			!strings.Contains(r[ch], "name.preferred.family: Anders → (none)") || strings.Contains(r[ch], "name.preferred.given") {
			t.Errorf("P1 from LIS 2.0, updated by the file: %q", r)
		}
	})
}
