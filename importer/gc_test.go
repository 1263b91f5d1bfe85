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

// During a re-import's check and apply the heap may grow at least ApplyGCHeadroom past what is
// live, and at least a quarter of it: a small live heap is not collected every few MB, a large
// one keeps its quarter (memory flat in the tenant's size).
func TestApplyGCLeavesAHeadroom(t *testing.T) {
	for _, live := range []uint64{1 << 20, 20 << 20, 64 << 20, ApplyGCHeadroom * 100 / ImportGCPercent, 1 << 30} {
		p := headroomGCPercent(live)
		if p < ImportGCPercent || p%5 != 0 {
			t.Errorf("live heap %d MB: %d %%", live>>20, p)
		}
		headroom := live * uint64(p) / 100
		if p < headroomGCMax && headroom < ApplyGCHeadroom {
			t.Errorf("live heap %d MB: %d %% leaves %d MB, want at least %d", live>>20, p, headroom>>20, ApplyGCHeadroom>>20)
		}
		if p > ImportGCPercent && headroom > ApplyGCHeadroom+live/20 {
			t.Errorf("live heap %d MB: %d %% leaves %d MB, more than %d needs", live>>20, p, headroom>>20, ApplyGCHeadroom>>20)
		}
	}
	if p := headroomGCPercent(0); p != headroomGCMax {
		t.Errorf("no live heap measured yet: %d %%, want %d", p, headroomGCMax)
	}
}

// The apply's hold gives way to a lower one another import holds, and its end gives back what
// was set before.
func TestApplyGCHold(t *testing.T) {
	t.Setenv("GOGC", "")
	defer debug.SetGCPercent(debug.SetGCPercent(100))

	done := applyGC()
	if p := gcPercent(); p < ImportGCPercent || p > headroomGCMax {
		t.Fatalf("during the apply GOGC is %d", p)
	}
	other := importGC()
	if p := gcPercent(); p != ImportGCPercent {
		t.Fatalf("beside another re-import's %d GOGC is %d", ImportGCPercent, p)
	}
	other()
	done()
	done()
	if p := gcPercent(); p != 100 {
		t.Fatalf("after the apply GOGC is %d, want the 100 set before", p)
	}
}
