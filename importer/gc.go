package importer

import (
	"os"
	"runtime/debug"
	"sync"
)

// ImportGCPercent is the garbage collector's target (GOGC) while an import runs. A re-import
// holds the tenant's stored state for the whole read: mostly pointer-free tables (a few
// hundred MB for a large tenant) that the collector marks cheaply. With Go's default of 100
// the heap grows to twice that live state before each collection, so the peak is the state
// twice over (up to the soft memory limit); at 25 it is the state and a quarter. The price is
// more, cheap, collections while the file is read (issue 18: measured in `make bench`).
const ImportGCPercent = 25

// gcPolicy counts the imports running in this process: the first sets ImportGCPercent, the
// last gives back what was set before (a serve process runs several tenants' imports at once).
var gcPolicy struct {
	mu   sync.Mutex
	n    int
	prev int
}

// importGC applies ImportGCPercent for the length of an import and returns its undoing. An
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
