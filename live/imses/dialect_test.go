package imses

import (
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/live"
	"github.com/imsfeed/imsfeed/store"
)

// TestALISRequestIsToldItsEndpoint: a LIS 2.0 request sent to the IMS ES endpoint (its body in
// a LIS namespace, or none and LIS's imsx_ header) is refused as the other
// dialect's request, naming the endpoint to use, not read as a request without a <person>;
// nothing changes.
func TestALISRequestIsToldItsEndpoint(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open)
		lisBody := `<sourcedId>P1</sourcedId><personRecord><sourcedGUID><sourcedId>P1</sourcedId></sourcedGUID><person><name><formatName>Ada</formatName></name></person></personRecord>`
		byNamespace := strings.Replace(soap("replacePerson", lisBody), nsPMSMsg, "http://www.imsglobal.org/services/lis/pms2p0/wsdl11/sync/imspms_v2p0", 1)
		// No namespace on the body (as a hand-made request may have): the header tells.
		byHeader := strings.Replace(strings.Replace(soap("replacePerson", lisBody), "syncRequestHeaderInfo", "imsx_syncRequestHeaderInfo", 2), ` xmlns="`+nsPMSMsg+`"`, "", 1)
		for what, body := range map[string]string{"LIS namespace": byNamespace, "LIS header": byHeader} {
			a := e.post(body)
			a.want(t, what, "failure", live.InvalidData)
			if d := a.statuses[0].desc; !strings.Contains(d, "looks like an IMS LIS 2.0 request") || !strings.Contains(d, "/ims/lis/v2p0") {
				t.Errorf("%s: answer does not name the dialect and its endpoint: %q", what, d)
			}
		}
		if s := e.status(); s.Persons.Active != 0 {
			t.Fatalf("a LIS request changed the store: %+v", s)
		}
	})
}
