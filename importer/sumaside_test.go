package importer

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
)

// TestSumAsideHashesTheWholeFile: the file's SHA-256 a run records is of every byte, whether
// the reader read all of it, stopped part-way (a file that fails: sum hashes the rest), or
// read nothing; across the chunks the hashing goroutine is handed, of any size (the size
// given may be wrong: the file grew).
func TestSumAsideHashesTheWholeFile(t *testing.T) {
	data := make([]byte, 3*sumChunk+12345)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	full := sha256.Sum256(data)
	want := hex.EncodeToString(full[:])
	for i, readFirst := range []int{0, 1, sumChunk - 1, sumChunk, 2*sumChunk + 7, len(data)} {
		a := newSumAside(bytes.NewReader(data), []int64{int64(len(data)), 0, 100 << 10}[i%3])
		got := make([]byte, 0, readFirst)
		buf := make([]byte, 4093) // not a divisor of the chunk
		for len(got) < readFirst {
			n, err := a.Read(buf[:min(len(buf), readFirst-len(got))])
			got = append(got, buf[:n]...)
			if err != nil {
				t.Fatalf("after %d bytes: %v", len(got), err)
			}
		}
		if !bytes.Equal(got, data[:readFirst]) {
			t.Fatalf("the reader was given other bytes than the file's")
		}
		sum, ok := a.sum()
		if !ok || sum != want {
			t.Errorf("read %d of %d bytes first: sum %s, %v; want %s", readFirst, len(data), sum, ok, want)
		}
	}
}

// A file whose rest cannot be read has no hash (the run records none), and the hashing
// goroutine still ends.
func TestSumAsideWithoutTheRest(t *testing.T) {
	r := io.MultiReader(bytes.NewReader(make([]byte, sumChunk+10)), &failingReader{})
	a := newSumAside(r, 0)
	if _, err := a.Read(make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	if sum, ok := a.sum(); ok || sum != "" {
		t.Errorf("sum = %q, %v; want none", sum, ok)
	}
}

type failingReader struct{}

func (*failingReader) Read([]byte) (int, error) { return 0, errors.New("disk gone") }
