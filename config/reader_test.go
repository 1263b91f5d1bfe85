package config

import (
	"strings"
	"testing"

	"github.com/imsfeed/imsfeed/importer/ims"
)

func TestPasswordMappingIsRefusedWithTenantKeyAndLine(t *testing.T) {
	_, err := Parse([]byte(`
tenants:
  - id: northside
    mappings:
      persons:
        national_id: "string(extension/pifu_id)"
        pw: "string(userid/@password)"
`))
	if err == nil || !strings.Contains(err.Error(), "line 7: tenant northside: mappings.persons.pw: ") || !strings.Contains(err.Error(), "password") {
		t.Fatalf("got %v", err)
	}
}

func TestReaderLimitsAndEncodingAreRead(t *testing.T) {
	cfg, err := Parse([]byte(`
tenants:
  - id: a
    encoding: utf-8
    max_attributes: 20
    max_record_size: 1MiB
    max_text_size: 64KB
  - id: b
`))
	if err != nil {
		t.Fatal(err)
	}
	a, b := cfg.Tenants[0], cfg.Tenants[1]
	if a.Encoding != "utf-8" || a.MaxAttributes != 20 || a.MaxRecordSize != 1<<20 || a.MaxTextSize != 64000 {
		t.Errorf("a: %+v", a)
	}
	if b.Encoding != "" || b.MaxAttributes != ims.DefaultMaxAttributes || b.MaxRecordSize != ims.DefaultMaxRecordSize || b.MaxTextSize != ims.DefaultMaxTextSize {
		t.Errorf("b defaults: %+v", b)
	}
	for _, bad := range []string{"encoding: latin-2", "max_attributes: 0", "max_text_size: 0", "max_record_size: 0"} {
		if _, err := Parse([]byte("tenants:\n  - id: a\n    " + bad + "\n")); err == nil || !strings.Contains(err.Error(), "tenant a: "+strings.Split(bad, ":")[0]) {
			t.Errorf("%s: %v", bad, err)
		}
	}
}
