//go:build race

package storetest

// underRace: the race detector makes the large checks' applies several times slower; they run
// smaller under it.
const underRace = true
