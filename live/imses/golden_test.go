package imses

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	livesoap "github.com/imsfeed/imsfeed/live/soap"
	"github.com/imsfeed/imsfeed/store"
	"github.com/imsfeed/imsfeed/store/sqlite"
)

func openSQLite(t *testing.T) store.Store {
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var update = flag.Bool("update", false, "rewrite the golden files")

// volatile is what changes from run to run in an answer: timestamps, our message identifiers.
var volatile = regexp.MustCompile(`imsfeed-[0-9a-f]{32}|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z`)

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./live/imses -run Golden -update writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./live/imses -run Golden -update to accept):\n%s", name, got)
	}
}

// TestCorpusGoldens reads each of the real client's requests into a live.Request (golden JSON)
// and replays them in order against one tenant, each answer golden too.
func TestCorpusGoldens(t *testing.T) {
	e := newEnv(t, openSQLite)
	files, err := filepath.Glob(filepath.Join("testdata", "imses1-itslearning", "requests", "*.xml"))
	if err != nil || len(files) != 13 {
		t.Fatalf("corpus requests: %v %v", files, err)
	}
	for _, f := range files {
		body := corpus(t, filepath.Base(f))
		base := strings.TrimSuffix(filepath.Base(f), ".xml")
		env, ferr := readEnvelope([]byte(body))
		if ferr != nil {
			t.Fatalf("%s: %v", base, ferr)
		}
		op, ok := operations[env.op]
		if !ok {
			t.Fatalf("%s: operation %q is not implemented", base, env.op)
		}
		js, _ := json.MarshalIndent(map[string]any{"operation": env.op, "message_id": env.messageID, "request": request(op, env.body)}, "", "  ")
		golden(t, base+".request.json", append(js, '\n'))
		a := e.post(body)
		if a.fault != "" {
			t.Fatalf("%s: fault %s", base, a.fault)
		}
		golden(t, base+".answer.xml", []byte(volatile.ReplaceAllString(a.raw, "VOLATILE")+"\n"))
	}
}

// paths lists the elements below n as namespace and local names from n down, sorted.
func paths(n *livesoap.Node, prefix string, out map[string]bool) {
	for _, k := range n.Kids {
		p := prefix + "/{" + k.Space() + "}" + k.Local
		out[p] = true
		paths(k, p, out)
	}
}

// TestAnswerHeadersHaveTheShapeItslearningAnswers: the header of our answer to a singular and
// to a plural request holds every element the itslearning (WCF) answer templates have, in the
// same namespaces: syncResponseHeaderInfo with statusInfo (statusInfoSet for a plural one) and
// a WS-Security Timestamp.
func TestAnswerHeadersHaveTheShapeItslearningAnswers(t *testing.T) {
	e := newEnv(t, openSQLite)
	for _, c := range []struct{ template, request string }{
		{"base-action.response-template.xml", "001-createPerson.xml"},
		{"base-mass-action.response-template.xml", "003-createPersons.xml"},
	} {
		tb, err := os.ReadFile(filepath.Join("testdata", "imses1-itslearning", c.template))
		if err != nil {
			t.Fatal(err)
		}
		tmpl, err := livesoap.Parse(bytes.NewReader(tb))
		if err != nil {
			t.Fatalf("%s: %v", c.template, err)
		}
		a := e.post(corpus(t, c.request))
		want, got := map[string]bool{}, map[string]bool{}
		paths(tmpl.Child("Header"), "Header", want)
		paths(a.root.Child("Header"), "Header", got)
		var missing []string
		for p := range want {
			if !got[p] {
				missing = append(missing, p)
			}
		}
		sort.Strings(missing)
		if len(want) < 8 || len(missing) > 0 {
			t.Errorf("the answer to %s lacks what %s has: %q\n%s", c.request, c.template, missing, a.raw)
		}
	}
}
