//go:build race

package postgres_test

// underRace: the race detector makes the big apply several times slower; it is smaller under
// it.
const underRace = true
