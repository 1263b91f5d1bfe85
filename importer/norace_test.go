//go:build !race

package importer_test

const underRace = false
