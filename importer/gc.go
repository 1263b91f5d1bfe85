package importer

import (
	"os"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// ImportGCPercent is the garbage collector's target (GOGC) while a re-import holds the tenant's
// stored state: from loading it (whose garbage is then collected sooner) through the plan, the
// check and the apply (makePlan, decide). That state is mostly pointer-free tables (a few
// hundred MB for a large tenant) that the collector marks cheaply, and it stays live for the
// whole read; with Go's default of 100 the heap grew to twice it before each collection (up to
// the soft memory limit), at 25 it is the state and a quarter. An initial load read the
// ordinary way keeps the default: its live heap is the plan, full of pointers, and at 25 it
// cost a quarter more CPU for a peak the soft limit bounds anyway (issue 18; figures in the
// README). One written while reading runs at EarlyGCPercent. A re-import's check and apply
// leave at least ApplyGCHeadroom over the live heap (applyGC).
const ImportGCPercent = 25

// EarlyGCPercent is the garbage collector's target while an initial load hands its persons and
// memberships over to the store as it reads them (store.EarlyWriter): what it holds then is
// small and flat (the persons listed for the status mail, the groups, a hash of each person's
// key), and at Go's default the heap grew to twice that; at 50 the 1,013.8 MB feed's reading
// peaked about 40 MB lower for a few per cent more collector CPU. From its Finish through the
// apply it runs at ImportGCPercent: the plan is then made and written while the server, not
// this process, does most of the work.
const EarlyGCPercent = 50

// gcPolicy counts, per percentage, the imports holding one in this process: the lowest held is
// in force (a serve process runs several tenants' imports at once: an initial load running
// beside a re-import runs at 25 too), and the last to end gives back what was set before.
var gcPolicy struct {
	mu   sync.Mutex
	held map[int]int
	prev int
}

// importGC applies ImportGCPercent until the returned function is called.
func importGC() (done func()) { return gcAt(ImportGCPercent) }

// gcAt applies percent (or a lower one another import holds) until the returned function is
// called. An operator's GOGC wins, and so does a lower percentage set by the program.
func gcAt(percent int) (done func()) {
	if os.Getenv("GOGC") != "" {
		return func() {}
	}
	gcPolicy.mu.Lock()
	defer gcPolicy.mu.Unlock()
	if len(gcPolicy.held) == 0 {
		gcPolicy.prev = debug.SetGCPercent(percent)
		gcPolicy.held = map[int]int{}
	}
	gcPolicy.held[percent]++
	applyGCPolicy()
	return sync.OnceFunc(func() {
		gcPolicy.mu.Lock()
		defer gcPolicy.mu.Unlock()
		if gcPolicy.held[percent]--; gcPolicy.held[percent] == 0 {
			delete(gcPolicy.held, percent)
		}
		if len(gcPolicy.held) == 0 {
			debug.SetGCPercent(gcPolicy.prev)
			return
		}
		applyGCPolicy()
	})
}

// applyGCPolicy sets the lowest percentage held, unless what was set before is lower.
func applyGCPolicy() {
	p := -1
	for q := range gcPolicy.held {
		if p < 0 || q < p {
			p = q
		}
	}
	if gcPolicy.prev >= 0 && gcPolicy.prev < p {
		p = gcPolicy.prev
	}
	debug.SetGCPercent(p)
}

// ApplyGCHeadroom is the least a re-import's heap may grow past what is live before a
// collection during its check and apply: at ImportGCPercent alone the apply of the 316.8 MB
// feed's 1 % change (the undo, the rows, about 1,230 state index buckets decoded, edited and
// written) spent half its CPU collecting a live heap of a few tens of MB every few MB of
// garbage. A fixed headroom keeps memory flat in the tenant's size: a large tenant's live heap
// gets its quarter, a small one this. (While the file is read, the same floor took the
// re-import's CPU down by a tenth while the stored persons were a map; since they are an index,
// by nothing beyond the noise, for 20-25 MB more peak RSS: not there.)
const ApplyGCHeadroom = 32 << 20

// headroomGCMax bounds the percentage a nearly empty heap would ask for: Go's default (a
// re-import's target is never above what was set before it, gcAt).
const headroomGCMax = 100

// headroomGCPercent is the percentage for a live heap of live bytes, in steps of 5:
// ImportGCPercent, or what leaves ApplyGCHeadroom over it when that is more.
func headroomGCPercent(live uint64) int {
	p := ImportGCPercent
	if live > 0 {
		p = max(p, int(ApplyGCHeadroom*100/live))
	} else {
		p = headroomGCMax
	}
	return min(headroomGCMax, (p+4)/5*5)
}

// applyGC applies headroomGCPercent of the live heap as the last collection found it (or a
// lower one another import holds) until the returned function is called.
func applyGC() (done func()) {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	var live uint64
	if s[0].Value.Kind() == metrics.KindUint64 {
		live = s[0].Value.Uint64()
	}
	return gcAt(headroomGCPercent(live))
}
