package importer_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/importer"
	"github.com/imsfeed/imsfeed/mailer"
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
