package lis

import (
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/live"
	"github.com/imsfeed/imsfeed/store"
)

// TestAnIMSESRequestIsToldItsEndpoint: an IMS ES 1.0 createPerson sent to the LIS 2.0 endpoint
// is refused as the other dialect's request, naming the endpoint to use, not read as "a person
// without sourcedId"; nothing changes.
func TestAnIMSESRequestIsToldItsEndpoint(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open)
		es := `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header>` +
			`<h:syncRequestHeaderInfo xmlns:h="http://www.imsglobal.org/services/common/imsMessBindSchema_v1p0"><h:messageIdentifier>m1</h:messageIdentifier></h:syncRequestHeaderInfo></s:Header>` +
			`<s:Body><createPersonRequest xmlns="http://www.imsglobal.org/services/pms/xsd/imsPersonManMessSchema_v1p0">` +
			`<sourcedId><identifier>P1</identifier></sourcedId><person><formatName>Ada</formatName></person></createPersonRequest></s:Body></s:Envelope>`
		a := e.post(es)
		a.want(t, "IMS ES createPerson", "failure", live.InvalidData)
		if !strings.Contains(a.desc, "looks like an IMS ES 1.0 request") || !strings.Contains(a.desc, "/ims/es/v1p0") {
			t.Fatalf("answer does not name the dialect and its endpoint: %q", a.desc)
		}
		if s := e.status(); s.Persons.Active != 0 {
			t.Fatalf("an IMS ES request changed the store: %+v", s)
		}
	})
}
