package importer

// SetListHanded sets how many memberships written while reading a plan lists, until the
// returned function puts it back.
func SetListHanded(n int) func() {
	old := listHanded
	listHanded = n
	return func() { listHanded = old }
}

// SetEarlyMinSize sets the smallest file whose initial load is written while it is read, until
// the returned function puts it back.
func SetEarlyMinSize(n int64) func() {
	old := earlyMinSize
	earlyMinSize = n
	return func() { earlyMinSize = old }
}

// SetSpillBudget sets how many bytes of the file's memberships a re-import's diff keeps in
// memory before its scratch file, until the returned function puts it back.
func SetSpillBudget(n int) func() {
	old := spillBudget
	spillBudget = n
	return func() { spillBudget = old }
}

// ScratchFilesMade is how many scratch files the importer has made.
func ScratchFilesMade() int64 { return scratchMade.Load() }

// OnScratchFile calls f whenever the importer makes a scratch file, until the returned function
// puts it back.
func OnScratchFile(f func()) func() {
	old := scratchMadeHook
	scratchMadeHook = f
	return func() { scratchMadeHook = old }
}

// SetPlanPiece sets about how many bytes of a held plan go in one stored part, until the
// returned function puts it back.
func SetPlanPiece(n int) func() {
	old := planPiece
	planPiece = n
	return func() { planPiece = old }
}

// SetHeldPiece sets how many changes of a held plan approval decodes at a time, until the
// returned function puts it back.
func SetHeldPiece(n int) func() {
	old := heldPiece
	heldPiece = n
	return func() { heldPiece = old }
}

// RemovalsHeldApart is how many membership removals the importer's holds have taken apart from
// their plans' lists (diff.FinishApart).
func RemovalsHeldApart() int64 { return removalsHeldApart.Load() }

// PersonsHeldApart is how many persons going to the trash can the importer's holds have taken
// apart from their plans' lists.
func PersonsHeldApart() int64 { return personsHeldApart.Load() }

// ListRemovals makes a plan list its membership removals at once rather than keep them apart
// until it is judged, until the returned function puts it back.
func ListRemovals() func() {
	old := keepRemovalsApart
	keepRemovalsApart = false
	return func() { keepRemovalsApart = old }
}

// RemovalsAppliedApart is how many membership removals the importer's applies have read from
// apart (diff.FinishApart), in pieces, rather than from their plans' lists.
func RemovalsAppliedApart() int64 { return removalsAppliedApart.Load() }

// PersonsAppliedApart is how many persons going to the trash can the importer's applies have
// read from apart, in pieces, rather than from their plans' lists.
func PersonsAppliedApart() int64 { return personsAppliedApart.Load() }

// SetApplyApartMin sets how many membership removals apart make a passing plan applied in
// pieces, until the returned function puts it back.
func SetApplyApartMin(n int) func() {
	old := applyApartMin
	applyApartMin = n
	return func() { applyApartMin = old }
}

// SetApplyPiece sets how many changes of one list a piece of a plan applied in pieces holds,
// until the returned function puts it back.
func SetApplyPiece(n int) func() {
	old := applyPiece
	applyPiece = n
	return func() { applyPiece = old }
}
