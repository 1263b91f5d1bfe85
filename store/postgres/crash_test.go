package postgres_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/store"
	"github.com/imsfeed/imsfeed/store/postgres"
)

// The child process: IMSFEED_PG_CHILD=<url> runs crashChild instead of the tests.
func TestMain(m *testing.M) {
	if u := os.Getenv("IMSFEED_PG_CHILD"); u != "" {
		if err := crashChild(u); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// crashChild locks the tenant IMSFEED_PG_CHILD_TENANT, says so, starts applying a big plan, says so, and
// finishes (saying "applied") unless it is killed first.
func crashChild(url string) error {
	ctx := context.Background()
	s, err := postgres.Open(ctx, url)
	if err != nil {
		return err
	}
	tenant := os.Getenv("IMSFEED_PG_CHILD_TENANT")
	if _, err := s.LockTenant(ctx, tenant, time.Second); err != nil {
		return err
	}
	fmt.Println("locked")
	p := bigPlan(tenant)
	run := &runs.Run{Tenant: tenant, Status: runs.Running, StartedAt: time.Now()}
	if err := s.CreateRun(ctx, run); err != nil {
		return err
	}
	fmt.Println("applying")
	if err := s.Apply(ctx, store.ApplyParams{Plan: p, Run: run, Now: time.Now()}); err != nil {
		return err
	}
	fmt.Println("applied")
	return nil
}

func bigPlan(tenant string) *change.Plan {
	p := &change.Plan{Tenant: tenant}
	g := record.Group{Key: "school", Name: "School"}
	g.ComputeHash()
	p.Groups = append(p.Groups, change.Group{Op: change.Insert, Group: g})
	n := 400_000
	if underRace {
		n = 100_000 // applied several times slower: still seconds, the kill 100 ms in
	}
	for i := range n {
		m := record.Membership{MembershipKey: record.MembershipKey{Group: "school", Member: fmt.Sprintf("P%07d", i), Role: "01"}, MemberType: record.MemberPerson}
		m.ComputeHash()
		p.Memberships = append(p.Memberships, change.Membership{Op: change.Insert, Membership: m})
	}
	return p
}

// TestKilledMidApply kills (SIGKILL) a real process holding the tenant's lock in the middle of
// a big apply: the state is the old one, the lock is free, and the same plan then applies.
func TestKilledMidApply(t *testing.T) {
	url := freshSchema(t)
	// Advisory locks are database-wide: a name no other test uses.
	tenant := fmt.Sprintf("north-%08x", rand.Uint32())
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), "IMSFEED_PG_CHILD="+url, "IMSFEED_PG_CHILD_TENANT="+tenant)
	child.Stderr = os.Stderr
	stdout, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer child.Process.Kill() //nolint:errcheck // normally dead already
	lines := bufio.NewScanner(stdout)
	expect := func(want string) {
		t.Helper()
		if !lines.Scan() || lines.Text() != want {
			t.Fatalf("child said %q (%v), want %q", lines.Text(), lines.Err(), want)
		}
	}
	expect("locked")

	s, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.LockTenant(ctx, tenant, 200*time.Millisecond); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("lock held by another process: got %v, want ErrLocked", err)
	}
	expect("applying")
	// The apply of 400k rows takes about a second here (COPY into an empty table); 100 ms in,
	// it is surely under way and far from its commit.
	time.Sleep(100 * time.Millisecond)
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	rest := ""
	for lines.Scan() {
		rest += lines.Text() + "\n"
	}
	_ = child.Wait()
	if strings.Contains(rest, "applied") {
		t.Fatal("the child finished its apply before it was killed; the plan is too small for this machine")
	}

	st, err := s.LoadState(ctx, tenant)
	if err != nil {
		t.Fatal(err)
	}
	if st.Version != 0 || len(st.Groups)+st.Memberships.Len() != 0 {
		t.Fatalf("after the crash: version %d, %d groups, %d memberships; want the empty old state",
			st.Version, len(st.Groups), st.Memberships.Len())
	}
	release, err := s.LockTenant(ctx, tenant, 10*time.Second)
	if err != nil {
		t.Fatalf("the killed process's lock was not released: %v", err)
	}
	defer release()
	p := bigPlan(tenant)
	run := &runs.Run{Tenant: tenant, Status: runs.Running, StartedAt: time.Now()}
	if err := s.CreateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(ctx, store.ApplyParams{Plan: p, Run: run, Now: time.Now()}); err != nil {
		t.Fatalf("the next run: %v", err)
	}
	if st, _ := s.LoadState(ctx, tenant); st.Version != 1 || st.Memberships.Len() != len(p.Memberships) {
		t.Errorf("after the next run: version %d, %d memberships", st.Version, st.Memberships.Len())
	}
}
