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
