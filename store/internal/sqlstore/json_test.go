package sqlstore

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/record"
)

// TestAttrsJSONIsWhatEncodingJSONWrites: the attributes column written without reflection is
// byte for byte json.Marshal's, over awkward values (escapes, HTML characters, non-ASCII,
// the line separators, invalid UTF-8) and plain ones, so no stored byte changes.
func TestAttrsJSONIsWhatEncodingJSONWrites(t *testing.T) {
	pieces := []string{"a", "Z", "0", " ", "\t", "\n", "\r", "\\", `"`, "'", "/", "<", ">", "&", "\x00", "\x01", "\b", "\f", "\x1f", "\x7f",
		"é", "å", "Ø", "ß", "中", "😀", "\u2028", "\u2029", "\ufffd", "\xff", "\xc3", "\xe2\x80", "\xed\xa0\x80", "name.given", "@"}
	rnd := rand.New(rand.NewPCG(18, 12))
	str := func() string {
		var b strings.Builder
		for range rnd.IntN(6) {
			b.WriteString(pieces[rnd.IntN(len(pieces))])
		}
		return b.String()
	}
	cases := []record.Attrs{
		{{Name: "email", Value: "t000001@staff.example.org"}},
		{{Name: "name.family", Value: "Pedersen"}, {Name: "name.given", Value: "Håkon"}},
		{{Name: "x", Value: "a\tb\nc\\d\"e<f>g&h\u2028i\xffj"}},
		{{Name: "", Value: ""}},
	}
	for range 5000 {
		a := make(record.Attrs, 1+rnd.IntN(4))
		for i := range a {
			a[i] = record.Attr{Name: str(), Value: str()}
		}
		cases = append(cases, a)
	}
	for _, a := range cases {
		want, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		if got := JSON(a); got != string(want) {
			t.Fatalf("attributes %q: got %q, json.Marshal writes %q", a, got, want)
		}
	}
	if got := JSON(record.Attrs{}); got != nil {
		t.Errorf("no attributes: %v, want nil (NULL)", got)
	}
}
