package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const pifuCarers = `<?xml version="1.0" encoding="UTF-8"?>
<enterprise xmlns="http://pifu.no/xsd/pifu-ims_sas/pifu-ims_sas-1.1">
<person><sourcedid><id>P1</id></sourcedid><name><fn>Ada Pupil</fn></name>
 <extension><pifu_hasContactPerson type="guardian"><sourcedid><id>G1</id></sourcedid></pifu_hasContactPerson>
 <pifu_hasContactPerson type="nextOfKin"><sourcedid><id>G2</id></sourcedid></pifu_hasContactPerson></extension></person>
<person><sourcedid><id>P2</id></sourcedid><name><fn>Bo Pupil</fn></name>
 <extension><pifu_hasContactPerson type="guardian"><sourcedid><id>G1</id></sourcedid></pifu_hasContactPerson></extension></person>
<person><sourcedid><id>G1</id></sourcedid><name><fn>Grace Guardian</fn></name></person>
<person><sourcedid><id>G2</id></sourcedid><name><fn>Kim Kin</fn></name></person>
</enterprise>
`

// TestRelationsCommand: relations read from a PIFU-IMS file are counted by validate, imported,
// shown by status --json ("relations": {"active": N}) and listed by `imsfeed relations`, all or
// those naming one person either way.
func TestRelationsCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "carers.xml")
	if err := os.WriteFile(file, []byte(pifuCarers), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := imsfeed(t, dir, "validate", "--json", file); r.code != 0 || !strings.Contains(r.stdout, `"relations": 3`) {
		t.Fatalf("validate: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r := imsfeed(t, dir, "import", "--tenant", "north", file); r.code != 0 || !strings.Contains(r.stdout, "relations") {
		t.Fatalf("import: %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r := imsfeed(t, dir, "status", "--tenant", "north", "--json")
	var st struct {
		Relations struct{ Active int } `json:"relations"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || st.Relations.Active != 3 {
		t.Fatalf("status --json: %v %s", err, r.stdout)
	}
	r = imsfeed(t, dir, "relations", "--tenant", "north", "--person", "G1", "--json")
	var rs []struct{ Person, PersonName, Related, RelatedName, Type string }
	if err := json.Unmarshal([]byte(strings.NewReplacer(`"person_name"`, `"PersonName"`, `"related_name"`, `"RelatedName"`).Replace(r.stdout)), &rs); err != nil {
		t.Fatalf("relations --json: %v %s", err, r.stdout)
	}
	if len(rs) != 2 || rs[0].Person != "P1" || rs[0].RelatedName != "Grace Guardian" || rs[1].Person != "P2" || rs[1].Type != "guardian" {
		t.Errorf("relations naming G1: %+v", rs)
	}
	r = imsfeed(t, dir, "relations", "--tenant", "north")
	if r.code != 0 || !strings.Contains(r.stdout, "P1      Ada Pupil  nextOfKin  G2       Kim Kin") {
		t.Errorf("relations:\n%s%s", r.stdout, r.stderr)
	}
}
