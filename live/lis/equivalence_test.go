package lis

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/imsfeed/imsfeed/diff"
	"github.com/imsfeed/imsfeed/live/imses"
	"github.com/imsfeed/imsfeed/store"
)

// One person, three channels: the nightly file, IMS ES 1.0 and IMS LIS 2.0 carry the same
// fields (names, the preferred first name, email, user id, institution role, an extension
// field), so whichever channel comes first, the other two are no update.

func fileForm(key string) string {
	return `<enterprise><person><sourcedid><id>` + key + `</id></sourcedid><name><fn>Erika Mustermann</fn><nickname>Eri</nickname>` +
		`<n><family>Mustermann</family><given>Erika</given></n></name><email>erika@example.org</email><userid>erika.m</userid>` +
		`<institutionrole primaryrole="Yes" institutionroletype="Student"/><extension><passwordchange>NotAllowed</passwordchange></extension></person></enterprise>`
}

func esForm(key string) string {
	part := func(t, v string) string {
		return `<partName><namePartType>` + t + `</namePartType><namePartValue>` + v + `</namePartValue></partName>`
	}
	return fmt.Sprintf(`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header>`+
		`<h:syncRequestHeaderInfo xmlns:h="http://www.imsglobal.org/services/common/imsMessBindSchema_v1p0"><h:messageIdentifier>es-%d</h:messageIdentifier></h:syncRequestHeaderInfo>`+
		`</s:Header><s:Body><replacePersonRequest xmlns="http://www.imsglobal.org/services/pms/xsd/imsPersonManMessSchema_v1p0">`+
		`<sourcedId><identifier>%s</identifier></sourcedId><person><formatName>Erika Mustermann</formatName><name>%s%s%s</name>`+
		`<email>erika@example.org</email><userId><userIdValue>erika.m</userIdValue></userId>`+
		`<institutionRole><institutionRoleType>Student</institutionRoleType><primaryRoleType>true</primaryRoleType></institutionRole>`+
		`<extension><extensionField><fieldName>passwordchange</fieldName><fieldType>String</fieldType><fieldValue>NotAllowed</fieldValue></extensionField></extension>`+
		`</person></replacePersonRequest></s:Body></s:Envelope>`,
		time.Now().UnixNano(), key, part("First", "Erika"), part("Last", "Mustermann"), part("Nickname", "Eri"))
}

func lisForm(key string) string {
	return lisReq("replacePerson", sid(key)+`<personRecord><person><formname><formattedName>`+ts("Erika Mustermann")+`</formattedName></formname>`+
		`<name><nameType><instanceValue>`+ts("Full")+`</instanceValue></nameType>`+part("First", "Erika")+part("Last", "Mustermann")+`</name>`+
		`<name><nameType><instanceValue>`+ts("Preferred")+`</instanceValue></nameType>`+part("First", "Eri")+`</name>`+
		`<contactinfo><contactinfoType><instanceValue>`+ts("EmailPrimary")+`</instanceValue></contactinfoType><contactinfoValue>`+ts("erika@example.org")+`</contactinfoValue></contactinfo>`+
		`<roles><institutionRole><institutionroletype><instanceValue>`+ts("Student")+`</instanceValue></institutionroletype><primaryroletype>true</primaryroletype></institutionRole>`+
		`<userId><userIdValue>`+ts("erika.m")+`</userIdValue></userId></roles>`+
		`<extension><extensionField><fieldName>passwordchange</fieldName><fieldValue>NotAllowed</fieldValue></extensionField></extension></person></personRecord>`)
}

func TestOnePersonThroughThreeChannelsIsNoUpdateAfterTheFirstOnBothStores(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open)
		// IMS ES 1.0 on the same service and credentials.
		es := &imses.Handler{Service: e.h.Service, Auth: e.h.Auth}
		esSrv := httptest.NewServer(es)
		t.Cleanup(esSrv.Close)

		file := func(key string) { e.importFile(fileForm(key), diff.Event) }
		viaES := func(key string) {
			t.Helper()
			req, _ := http.NewRequest("POST", esSrv.URL, strings.NewReader(esForm(key)))
			req.Header.Set("Content-Type", "text/xml; charset=utf-8")
			req.SetBasicAuth(testUser, testPass)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(body), "<codeMajor>success</codeMajor>") {
				t.Fatalf("IMS ES replacePerson: %s", body)
			}
		}
		viaLIS := func(key string) {
			t.Helper()
			e.post(lisForm(key)).want(t, "LIS replacePerson", "success", "")
		}
		channels := []struct {
			name string
			send func(string)
		}{{"file", file}, {"IMS ES 1.0", viaES}, {"LIS 2.0", viaLIS}}

		for start := range channels {
			key := fmt.Sprintf("P%d", start)
			for turn := 0; turn < 4; turn++ {
				c := channels[(start+turn)%len(channels)]
				before := e.status().StateVersion
				c.send(key)
				after := e.status().StateVersion
				if turn == 0 && after != before+1 {
					t.Fatalf("%s first: state version %d → %d", c.name, before, after)
				}
				if turn > 0 && after != before {
					first := channels[start].name
					t.Errorf("%s after %s is an update (state version %d → %d): %+v", c.name, first, before, after, e.stored(key).Attrs)
				}
			}
			p := e.stored(key)
			if p.Attrs.Get(PreferredFirst) != "Eri" || p.Name != "Erika Mustermann" {
				t.Fatalf("%s: stored %+v", key, p)
			}
		}
	})
}
