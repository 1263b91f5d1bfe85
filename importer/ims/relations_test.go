package ims

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/imsfeed/imsfeed/record"
)

// TestRelationGoldens pins the relations read from a person's extension: the PIFU-IMS
// pifu_hasContactPerson form without configuration (under a default namespace and under a
// prefix), a tenant's relation mappings, and a file whose relations name a person it lacks or
// are unusable. Refresh with go test -update.
func TestRelationGoldens(t *testing.T) {
	t.Parallel()
	mapping := []Mapping{
		{Name: "guardian", Type: record.Relations, XPath: `extension/contacts/contact[@role="parent"]`},
		{Name: "mentor", Type: record.Relations, XPath: "extension/advisor"},
		{Name: "mentor", Type: record.Relations, XPath: `extension/contacts/contact[@role="coach"]`},
	}
	for _, tc := range []struct {
		file string
		maps []Mapping
	}{
		{"pifu-default-ns.xml", nil},
		{"pifu-no-ns.xml", nil},
		{"missing-related.xml", nil},
		{"mapping.xml", mapping},
	} {
		c, res, err := readFile(t, filepath.Join("testdata/relations", tc.file), Options{Mappings: tc.maps})
		if err != nil {
			t.Errorf("%s: %v", tc.file, err)
			continue
		}
		got := dump(c, res)
		golden := filepath.Join("testdata/golden", "relations_"+tc.file+".golden")
		if *update {
			if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test -update)", err)
		}
		if got != string(want) {
			t.Errorf("%s differs from %s:\n%s", tc.file, golden, diffLines(string(want), got))
		}
	}
}

// TestRelationsNotPersonAttributes: a relation is a record of its own, so a guardian changing
// is a relation change and not also an update of the pupil.
func TestRelationsNotPersonAttributes(t *testing.T) {
	t.Parallel()
	c, _, err := readFile(t, "testdata/relations/pifu-default-ns.xml", Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range c.persons[0].Attrs {
		if a.Name != "extension.pifu_pupilNumber" && a.Name != "" && len(a.Name) > 9 && a.Name[:9] == "extension" {
			t.Errorf("person attribute %s=%s: relations must not be stored on the person", a.Name, a.Value)
		}
	}
	if got := c.persons[0].Attrs.Get("extension.pifu_pupilNumber"); got != "17" {
		t.Errorf("other extension fields are still attributes: pifu_pupilNumber = %q", got)
	}
}
