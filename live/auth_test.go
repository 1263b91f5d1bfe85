package live

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// Set changes the passwords while requests are checked (serve re-reads a password file under
// live traffic): each check sees the old or the new credentials, and the failures counted
// before go on counting.
func TestSetChangesPasswordsAndKeepsTheFailures(t *testing.T) {
	north := &Tenant{ID: "north"}
	a := NewAuth([]Credential{{Username: "north-sis", Password: "first", Tenant: north}})
	for range 4 {
		a.Failed("192.0.2.1")
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				if g == 0 {
					a.Set([]Credential{{Username: "north-sis", Password: fmt.Sprint("pw-", i), Tenant: north}})
					continue
				}
				a.Check("north-sis", "first")
				a.Failed(fmt.Sprint("198.51.100.", g))
			}
		}()
	}
	wg.Wait()
	a.Set([]Credential{{Username: "north-sis", Password: "second", Tenant: north}})
	if _, ok := a.Check("north-sis", "first"); ok {
		t.Fatal("the old password still counts")
	}
	if tn, ok := a.Check("north-sis", "second"); !ok || tn != north {
		t.Fatalf("the new password: %v %v", tn, ok)
	}
	if d := a.Failed("192.0.2.1"); d != 500*time.Millisecond {
		t.Fatalf("the fifth failure after Set waits %v, want 500ms", d)
	}
}
