package lis

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/imsfeed/imsfeed/diff"
	"github.com/imsfeed/imsfeed/importer/ims"
	"github.com/imsfeed/imsfeed/live/imses"
	"github.com/imsfeed/imsfeed/live/soap"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/store"
)

// importFile applies an IMS Enterprise 1.1 file to the tenant as an import in this mode does
// (nothing when it changes nothing).
func (e *env) importFile(xml string, mode diff.Mode) {
	e.t.Helper()
	ctx := context.Background()
	st, err := e.st.LoadState(ctx, e.tenant.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	d := diff.New(st, diff.Options{Courses: e.tenant.Courses})
	opts := ims.Options{}
	if mode == diff.Event {
		opts.Mode = ims.ModeEvent
	}
	if _, err := ims.Read(ctx, strings.NewReader(xml), "night.xml", opts, d); err != nil {
		e.t.Fatal(err)
	}
	plan, _, err := d.Finish(diff.Finish{Mode: mode})
	if err != nil {
		e.t.Fatal(err)
	}
	if plan.Empty() {
		return
	}
	run := &runs.Run{Tenant: e.tenant.ID, Status: runs.Running, StartedAt: time.Now()}
	if err := e.st.CreateRun(ctx, run); err != nil {
		e.t.Fatal(err)
	}
	run.Status = runs.Completed
	if err := e.st.Apply(ctx, store.ApplyParams{Plan: plan, Run: run, Now: time.Now()}); err != nil {
		e.t.Fatal(err)
	}
}

// extensionField is the value of the extension field named name below n ("" when none).
func extensionField(n *soap.Node, name string) string {
	ext := n.Child("extension")
	if ext == nil {
		return ""
	}
	for _, f := range ext.Children("extensionField") {
		if f.Child("fieldName").Str() == name {
			return f.Child("fieldValue").Str()
		}
	}
	return ""
}

// TestCourseTemplateShownOnLiveReadsOnBothStores: a course a nightly import created under
// courses.template carries its template; IMS ES readGroup and LIS readCourseSection and
// readCourseOffering show it as the extension field "template". A group with no template
// shows none.
func TestCourseTemplateShownOnLiveReadsOnBothStores(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		e := newEnv(t, open)
		e.tenant.Courses.Template = map[string]string{"CourseSection": "tmpl-section", "CourseOffering": "tmpl-offering"}
		group := func(key, typ, parent string) string {
			rel := ""
			if parent != "" {
				rel = `<relationship relation="1"><sourcedid><id>` + parent + `</id></sourcedid></relationship>`
			}
			return `<group><sourcedid><id>` + key + `</id></sourcedid><grouptype><typevalue>` + typ + `</typevalue></grouptype>` +
				`<description><short>` + key + `</short></description>` + rel + `</group>`
		}
		e.importFile(`<enterprise>`+group("201740", "Term", "")+group("ENG.3705", "CourseOffering", "201740")+
			group("10001.201740", "CourseSection", "201740")+`</enterprise>`, diff.Snapshot)

		a := e.post(lisReq("readCourseSection", sid("10001.201740")))
		a.want(t, "readCourseSection", "success", "")
		if got := extensionField(a.root.Path("Body", "readCourseSectionResponse", "courseSectionRecord", "courseSection"), "template"); got != "tmpl-section" {
			t.Fatalf("readCourseSection shows template %q, want tmpl-section:\n%s", got, a.raw)
		}
		a = e.post(lisReq("readCourseOffering", sid("ENG.3705")))
		a.want(t, "readCourseOffering", "success", "")
		if got := extensionField(a.root.Path("Body", "readCourseOfferingResponse", "courseOfferingRecord", "courseOffering"), "template"); got != "tmpl-offering" {
			t.Fatalf("readCourseOffering shows template %q, want tmpl-offering:\n%s", got, a.raw)
		}
		a = e.post(lisReq("readGroup", sid("201740")))
		if strings.Contains(a.raw, "<fieldName>template</fieldName>") {
			t.Fatalf("a term has no template, readGroup shows one:\n%s", a.raw)
		}

		// IMS ES 1.0 readGroup on the same service and credentials.
		es := httptest.NewServer(&imses.Handler{Service: e.h.Service, Auth: e.h.Auth})
		t.Cleanup(es.Close)
		body := `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:ims="http://www.imsglobal.org/services/gms/wsdl/imsGroupManServiceSync_v1p0" xmlns:ims1="http://www.imsglobal.org/services/gms/xsd/imsGroupManMessSchema_v1p0" xmlns:ims2="http://www.imsglobal.org/services/common/imsMessBindSchema_v1p0">` +
			`<soapenv:Header><ims2:syncRequestHeaderInfo><ims2:messageIdentifier>t1</ims2:messageIdentifier></ims2:syncRequestHeaderInfo></soapenv:Header>` +
			`<soapenv:Body><ims1:readGroupRequest><ims1:sourcedId><ims1:identifier>10001.201740</ims1:identifier></ims1:sourcedId></ims1:readGroupRequest></soapenv:Body></soapenv:Envelope>`
		req, _ := http.NewRequest("POST", es.URL, strings.NewReader(body))
		req.Header.Set("Content-Type", "text/xml; charset=utf-8")
		req.SetBasicAuth(testUser, testPass)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		root, err := soap.Parse(strings.NewReader(string(raw)))
		if err != nil {
			t.Fatalf("IMS ES answer: %v\n%s", err, raw)
		}
		if got := extensionField(root.Path("Body", "readGroupResponse", "group"), "template"); got != "tmpl-section" {
			t.Fatalf("IMS ES readGroup shows template %q, want tmpl-section:\n%s", got, raw)
		}
	})
}
