package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/imsfeed/imsfeed/live"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/store/sqlite"
)

// A person a live request trashed was trashed by no run: `trash list` says "live", not run 0.
func TestTrashListNamesTheLiveChannel(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "es-pass"), []byte("pw\n"), 0o600)
	cfg := filepath.Join(dir, "imsfeed.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("store: sqlite://%[1]s/state.db\ndata_dir: %[1]s\ntenants:\n  - id: north\n    es: {username: north-sis, password_file: %[1]s/es-pass}\n", dir)), 0o644)
	if r := imsfeed(t, dir, "--config", cfg, "status", "--tenant", "north"); r.code != 0 { // migrations
		t.Fatalf("status: %d %s", r.code, r.stderr)
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	svc, lt := &live.Service{Store: st}, &live.Tenant{ID: "north"}
	p := &record.Person{Key: "L2", Name: "Grace Hopper"}
	p.ComputeHash()
	for _, req := range []*live.Request{
		{Dialect: "imses1", Operation: "createPerson", Type: record.Persons, Action: live.Create, Items: []live.Item{{Key: "L2", Person: p}}},
		{Dialect: "imses1", Operation: "deletePerson", Type: record.Persons, Action: live.Delete, Items: []live.Item{{Key: "L2"}}},
	} {
		if res := svc.Do(ctx, lt, req); !res.First().OK() {
			t.Fatalf("%s: %+v", req.Operation, res.First())
		}
	}
	st.Close()
	r := imsfeed(t, dir, "--config", cfg, "trash", "list", "--tenant", "north")
	if r.code != 0 || !regexp.MustCompile(`(?m)^L2 +Grace Hopper +\d{4}-\d\d-\d\d \d\d:\d\d \S+ +live$`).MatchString(r.stdout) {
		t.Errorf("trash list (exit %d), want L2 trashed by the live channel:\n%s%s", r.code, r.stdout, r.stderr)
	}
}
