package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// serve runs a tenant that is due, and on SIGTERM stops scheduling, lets the run finish and
// exits 0 (what systemd expects of a clean stop).
func TestServeRunsDueTenantsAndStopsCleanly(t *testing.T) {
	dir := t.TempDir()
	folder := filepath.Join(dir, "sis")
	os.MkdirAll(folder, 0o755)
	data, _ := os.ReadFile(writeDemo(t, dir, "night1.xml"))
	os.WriteFile(filepath.Join(folder, "export.xml"), data, 0o644)
	cfg := fmt.Sprintf(`store: sqlite://%s/state.db
data_dir: %s
tenants:
  - id: north
    schedule: "* * * * *"
    source: {url: "file://%s", settle: -1s}
`, dir, dir, folder)
	os.WriteFile(filepath.Join(dir, "imsfeed.yaml"), []byte(cfg), 0o644)

	cmd := exec.Command(binary, "serve")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "IMSFEED_CONFIG=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	var list []struct{ Status string }
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		r := imsfeed(t, dir, "runs", "--json")
		if json.Unmarshal([]byte(r.stdout), &list) == nil && len(list) > 0 && list[0].Status == "completed" {
			break
		}
	}
	if len(list) != 1 || list[0].Status != "completed" {
		cmd.Process.Kill()
		t.Fatalf("serve did not run the due tenant: %+v\n%s", list, stderr.String())
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("serve did not stop within 10s of SIGTERM")
	}
	// It says when each tenant runs next: at start-up and after each run, with the zone.
	if n := len(regexp.MustCompile(`msg="next run" tenant=north schedule="\* \* \* \* \*" next="\d{4}-\d\d-\d\d \d\d:\d\d:00 [A-Z]+`).FindAllString(stderr.String(), -1)); n < 2 {
		t.Errorf("serve logged the next run %d times, want at start-up and after the run:\n%s", n, stderr.String())
	}
	if !strings.Contains(stderr.String(), "fetch_waited=") {
		t.Errorf("serve's log does not say how long the fetch waited:\n%s", stderr.String())
	}
}
