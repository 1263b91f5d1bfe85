package sqlstore

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/imsfeed/imsfeed/store/internal/packs"
)

// A listSort gives back each member's groups, sorted and each once, by member type and key,
// whether its pairs stayed in one run in memory or were written in runs and merged; and it
// leaves no scratch file behind.
func TestMemberListsWhateverTheRuns(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	for _, run := range []int{1, 7, 100, 1 << 20} {
		t.Run(fmt.Sprint(run), func(t *testing.T) {
			defer SetListRun(run)()
			r := rand.New(rand.NewPCG(uint64(run), 1))
			var s listSort
			want := map[listKey]map[string]bool{}
			for g := range 40 {
				s.groups = append(s.groups, fmt.Sprintf("g%03d", r.IntN(1000)*40+g))
			}
			for range 3000 {
				k := listKey{1 + int64(r.IntN(2)), fmt.Sprintf("m%d", r.IntN(300))}
				g := uint32(r.IntN(len(s.groups)))
				if err := s.add(k.memberType, k.member, g); err != nil {
					t.Fatal(err)
				}
				if want[k] == nil {
					want[k] = map[string]bool{}
				}
				want[k][s.groups[g]] = true
			}
			var prev *listKey
			n := 0
			for {
				k, data, ok, err := s.next()
				if err != nil {
					t.Fatal(err)
				}
				if !ok {
					break
				}
				if prev != nil && (prev.memberType > k.memberType || prev.memberType == k.memberType && prev.member >= k.member) {
					t.Fatalf("member %v after %v", k, *prev)
				}
				prev = &k
				got, err := packs.DecodeList(data)
				if err != nil {
					t.Fatalf("%v: %v", k, err)
				}
				var w []string
				for g := range want[k] {
					w = append(w, g)
				}
				slices.Sort(w)
				if !slices.Equal(got, w) {
					t.Fatalf("%v: groups %v, want %v", k, got, w)
				}
				n++
			}
			if n != len(want) {
				t.Fatalf("%d members' lists, want %d", n, len(want))
			}
			s.close()
			if left, _ := filepath.Glob(filepath.Join(tmp, "*")); len(left) != 0 {
				t.Fatalf("left behind: %v", left)
			}
		})
	}
}
