package ims

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"runtime"
	"sync"
	"testing"

	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/samples/feedgen"
)

// A ~30 MB feed (a tenth of `make bench`'s), generated once per test binary.
var (
	benchOnce sync.Once
	benchFeed []byte
	benchErr  error
)

func feed(b *testing.B) []byte {
	benchOnce.Do(func() {
		var buf bytes.Buffer
		benchErr = feedgen.Write(&buf, feedgen.Options{Persons: 15000, Groups: 2000, MembersPerGroup: 75, Seed: 1})
		benchFeed = buf.Bytes()
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchFeed
}

// discard counts records and samples the heap, to show memory stays flat.
type discard struct {
	n        int
	peakHeap uint64
}

func (d *discard) tick() {
	d.n++
	if d.n%20000 == 0 {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		d.peakHeap = max(d.peakHeap, ms.HeapInuse)
	}
}
func (d *discard) Person(*record.Person) error         { d.tick(); return nil }
func (d *discard) Group(*record.Group) error           { d.tick(); return nil }
func (d *discard) Membership(*record.Membership) error { d.tick(); return nil }

func BenchmarkRead(b *testing.B) {
	data := feed(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var d discard
	var growth uint64
	for b.Loop() {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		d.n, d.peakHeap = 0, ms.HeapInuse
		res, err := Read(context.Background(), bytes.NewReader(data), "bench.xml", Options{}, &d)
		if err != nil {
			b.Fatal(err)
		}
		if d.n != res.Counts[0]+res.Counts[1]+res.Counts[2] || d.n == 0 {
			b.Fatalf("handled %d, counted %v", d.n, res.Counts)
		}
		growth = max(growth, d.peakHeap-ms.HeapInuse)
	}
	// Heap in use beyond the feed itself (held in memory here) while reading.
	b.ReportMetric(float64(growth)/(1<<20), "heap-growth-MB")
	b.ReportMetric(float64(len(data))/(1<<20), "file-MB")
}

// BenchmarkTokenLoop is the bare encoding/xml baseline of issue 2.
func BenchmarkTokenLoop(b *testing.B) {
	data := feed(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		dec := xml.NewDecoder(bytes.NewReader(data))
		for {
			_, err := dec.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}
