package importer

// SetListHanded sets how many memberships written while reading a plan lists, until the
// returned function puts it back.
func SetListHanded(n int) func() {
	old := listHanded
	listHanded = n
	return func() { listHanded = old }
}
