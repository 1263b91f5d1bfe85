package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateOfAFailingFileShowsWhatItReadBeforeTheError: a broken file's counts are what the
// reader handed on before the error, not zeros, in the terminal and in --json.
func TestValidateOfAFailingFileShowsWhatItReadBeforeTheError(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad, err := os.ReadFile("../../importer/ims/testdata/corpus/colleague/ims-data.xml20120906143000.xml")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "colleague.xml"), bad, 0o644)
	r := imsfeed(t, dir, "validate", "--json", "colleague.xml")
	var v struct {
		Counts map[string]int      `json:"counts"`
		Error  *struct{ Line int } `json:"error"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatal(err, r.stdout)
	}
	if r.code != 1 || v.Error == nil || v.Error.Line != 152 || v.Counts["groups"] != 6 {
		t.Errorf("validate --json: exit %d, %s", r.code, r.stdout)
	}
	r = imsfeed(t, dir, "validate", "colleague.xml")
	if r.code != 1 || !strings.Contains(r.stdout, "before the error") || !strings.Contains(r.stdout, "groups       6") {
		t.Errorf("validate: exit %d, %s", r.code, r.stdout)
	}
}
