package importer

import (
	"runtime/debug"
	"testing"
)

func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// The import GC policy (gc.go) holds while any import runs, and the last one to end gives back
// what was set before; a lower percentage and an operator's GOGC are left as they are.
func TestImportsRunUnderTheImportGCPercentAndGiveBackTheOld(t *testing.T) {
	t.Setenv("GOGC", "")
	defer debug.SetGCPercent(debug.SetGCPercent(100))

	first, second := importGC(), importGC()
	if p := gcPercent(); p != ImportGCPercent {
		t.Fatalf("during two imports GOGC is %d, want %d", p, ImportGCPercent)
	}
	first()
	first() // undoing twice is undoing once
	if p := gcPercent(); p != ImportGCPercent {
		t.Fatalf("one import still running: GOGC is %d, want %d", p, ImportGCPercent)
	}
	second()
	if p := gcPercent(); p != 100 {
		t.Fatalf("after the imports GOGC is %d, want the 100 set before", p)
	}

	debug.SetGCPercent(10)
	done := importGC()
	if p := gcPercent(); p != 10 {
		t.Errorf("a lower GOGC set before was raised to %d", p)
	}
	done()

	t.Setenv("GOGC", "200")
	debug.SetGCPercent(200)
	done = importGC()
	if p := gcPercent(); p != 200 {
		t.Errorf("with GOGC=200 in the environment an import runs under %d", p)
	}
	done()
}

// An initial load written while reading runs at EarlyGCPercent; beside a re-import (or its own
// apply at ImportGCPercent) the lower one holds, and the last to end gives back the old one.
func TestTheLowestGCPercentHeldIsInForce(t *testing.T) {
	t.Setenv("GOGC", "")
	defer debug.SetGCPercent(debug.SetGCPercent(100))

	early := gcAt(EarlyGCPercent)
	if p := gcPercent(); p != EarlyGCPercent {
		t.Fatalf("during an early initial load GOGC is %d, want %d", p, EarlyGCPercent)
	}
	reimport := importGC()
	if p := gcPercent(); p != ImportGCPercent {
		t.Fatalf("beside a re-import GOGC is %d, want %d", p, ImportGCPercent)
	}
	reimport()
	if p := gcPercent(); p != EarlyGCPercent {
		t.Fatalf("after the re-import GOGC is %d, want %d again", p, EarlyGCPercent)
	}
	early()
	if p := gcPercent(); p != 100 {
		t.Fatalf("after both GOGC is %d, want the 100 set before", p)
	}
}
