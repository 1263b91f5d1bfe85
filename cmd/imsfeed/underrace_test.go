//go:build race

package main

// underRace: `go test -race` builds the imsfeed binary the tests run with the race detector too,
// so serve's goroutines (the live channel, the password files, the TLS certificate) are checked.
const underRace = true
