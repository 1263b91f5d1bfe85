package soap

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
)

// TestReadRequestAnswersAsIfReadWhole: the envelope is read as the body arrives, and a request
// gets the answer it got when the body was read whole first: a blank body (a white-space rune
// split between two reads too) is an empty request, a body over the limit is 413 whatever it
// holds (not well-formed XML from its first byte, too many elements), and one under it parses.
func TestReadRequestAnswersAsIfReadWhole(t *testing.T) {
	env := `<s:Envelope xmlns:s="` + NS + `"><s:Body><x:pingRequest xmlns:x="urn:x">` + "%s" + `</x:pingRequest></s:Body></s:Envelope>`
	cases := []struct {
		name, body string
		oneByte    bool // the body arrives a byte at a time
		status     int
		fault      string
		unread     string // what the dialect is told
	}{
		{"blank", " \r\n\t ", false, 500, "empty request", "empty request"},
		{"no-break spaces a byte at a time", "\u00a0\u3000 \u00a0", true, 500, "empty request", "empty request"},
		{"space and a letter a byte at a time", "\u00a0a", true, 500, "not well-formed", "not well-formed"},
		{"not XML from its first byte, over the limit", "<<" + strings.Repeat("x", 5000), false, 413, "over the 4096 bytes limit", "too large"},
		{"a DOCTYPE, over the limit", "<!DOCTYPE x>" + strings.Repeat(" ", 5000), false, 413, "over the 4096 bytes limit", "too large"},
		{"a DOCTYPE", "<!DOCTYPE x>", false, 500, "DOCTYPE", "DOCTYPE"},
		{"an envelope over the limit", strings.Replace(env, "%s", strings.Repeat("<a/>", 2000), 1), false, 413, "over the 4096 bytes limit", "too large"},
		{"not XML", "not xml", false, 500, "not well-formed", "not well-formed"},
		{"envelope", strings.Replace(env, "%s", "<y>1</y>", 1), true, 200, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body io.Reader = strings.NewReader(c.body)
			if c.oneByte {
				body = iotest.OneByteReader(body)
			}
			r := httptest.NewRequest("POST", "/ims/es/v1p0", body)
			rw := httptest.NewRecorder()
			var told error
			e, ok := ReadRequest(rw, r, 4096, nil, func(*Node) bool { return false }, func(why error) { told = why })
			if c.status == 200 {
				if !ok || e.Body.Local != "pingRequest" || e.Body.Child("y").Str() != "1" || told != nil {
					t.Fatalf("read %v %+v, told %v; answered %d %s", ok, e, told, rw.Code, rw.Body)
				}
				return
			}
			if ok || rw.Code != c.status || !strings.Contains(rw.Body.String(), c.fault) {
				t.Fatalf("want HTTP %d with %q, got %v %d %s", c.status, c.fault, ok, rw.Code, rw.Body)
			}
			if told == nil || !strings.Contains(told.Error(), c.unread) {
				t.Fatalf("the dialect is told %v, want %q", told, c.unread)
			}
			if c.status == 413 && !errors.Is(told, ErrTooLarge) {
				t.Fatalf("told %v, not ErrTooLarge", told)
			}
		})
	}
	rw := httptest.NewRecorder()
	if _, ok := ReadRequest(rw, httptest.NewRequest("PUT", "/", nil), 4096, nil, nil, nil); ok || rw.Code != http.StatusMethodNotAllowed {
		t.Fatalf("PUT: %v %d", ok, rw.Code)
	}
}
