package importer

import (
	"os"
	"runtime/debug"
	"sync"
)

// ImportGCPercent is the garbage collector's target (GOGC) while a re-import holds the tenant's
// stored state: from loading it (whose garbage is then collected sooner) through the plan, the
// check and the apply (makePlan, decide). That state is mostly pointer-free tables (a few
// hundred MB for a large tenant) that the collector marks cheaply, and it stays live for the
// whole read; with Go's default of 100 the heap grew to twice it before each collection (up to
// the soft memory limit), at 25 it is the state and a quarter. An initial load keeps the
// default: its live heap is the plan, full of pointers, and at 25 it cost a quarter more CPU
// for a peak the soft limit bounds anyway (issue 18; figures in the README).
const ImportGCPercent = 25

// gcPolicy counts the re-imports holding a state in this process: the first sets
// ImportGCPercent, the last gives back what was set before (a serve process runs several
// tenants' imports at once; an initial load running beside a re-import runs at 25 too).
var gcPolicy struct {
	mu   sync.Mutex
	n    int
	prev int
}

// importGC applies ImportGCPercent until the returned function is called. An
// operator's GOGC wins, and so does a lower percentage set by the program.
func importGC() (done func()) {
	if os.Getenv("GOGC") != "" {
		return func() {}
	}
	gcPolicy.mu.Lock()
	defer gcPolicy.mu.Unlock()
	if gcPolicy.n == 0 {
		gcPolicy.prev = debug.SetGCPercent(ImportGCPercent)
		if gcPolicy.prev >= 0 && gcPolicy.prev < ImportGCPercent {
			debug.SetGCPercent(gcPolicy.prev)
		}
	}
	gcPolicy.n++
	return sync.OnceFunc(func() {
		gcPolicy.mu.Lock()
		defer gcPolicy.mu.Unlock()
		if gcPolicy.n--; gcPolicy.n == 0 {
			debug.SetGCPercent(gcPolicy.prev)
		}
	})
}
