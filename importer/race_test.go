//go:build race

package importer_test

// underRace: the race detector makes the large tests' imports several times slower; they run
// smaller under it.
const underRace = true
