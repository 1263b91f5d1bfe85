package imses

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imsfeed/imsfeed/live"
	"github.com/imsfeed/imsfeed/store/sqlite"
)

// bulkPersons is a createPersons of n persons, each about 330 bytes as QA's (40,000 of them:
// 13.3 MB, near the 16 MiB limit).
func bulkPersons(prefix string, n int) string {
	var b strings.Builder
	b.Grow(n * 340)
	b.WriteString("<personIdPairSet>")
	for i := range n {
		fmt.Fprintf(&b, `<personIdPair><sourcedId><identifier>%s%06d</identifier></sourcedId><person><name><partName><namePartType>First</namePartType>`+
			`<namePartValue>Bulk%d</namePartValue></partName><partName><namePartType>Last</namePartType><namePartValue>Person</namePartValue></partName></name>`+
			`<email>%s%d@example.org</email></person></personIdPair>`, prefix, i, i, strings.ToLower(prefix), i)
	}
	b.WriteString("</personIdPairSet>")
	return soap("createPersons", b.String())
}

// peakHeap samples the heap's objects while a request runs and keeps the largest figure.
type peakHeap struct {
	stop    chan struct{}
	wg      sync.WaitGroup
	objects uint64
}

func watchHeap() *peakHeap {
	p := &peakHeap{stop: make(chan struct{})}
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			metrics.Read(s)
			p.objects = max(p.objects, s[0].Value.Uint64())
			select {
			case <-p.stop:
				return
			case <-time.After(200 * time.Microsecond):
			}
		}
	}()
	return p
}

func (p *peakHeap) done() { close(p.stop); p.wg.Wait() }

// peakRSS is the process's peak resident set size since resetPeakRSS (Linux; 0 elsewhere).
func peakRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// BenchmarkCreatePersonsMemory is the memory of one createPersons of 40,000 persons (13.3 MB,
// QA's request) through the real handler on SQLite: what it adds to the heap (the largest
// figure seen while it runs, over the heap before it) and to the process's peak RSS. serve
// answers many tenants at once: a request's memory should be a small multiple of its size.
// Before the tree was let go early and the body and the answer streamed (c88a674): 176-180 MB
// of heap and 204-220 MB of RSS added; after (9f49770): 116-127 MB and 116-142 MB; with the
// pairs let go one by one and 64-byte nodes (49d4cc2): 86-104 MB and 102-105 MB.
func BenchmarkCreatePersonsMemory(b *testing.B) {
	e := benchEnv(b)
	i := 0
	measureRequests(b, e, 40000, func() string {
		i++
		return bulkPersons(fmt.Sprintf("B%dK", i), 40000)
	})
}

// BenchmarkReadPersonsMemory is the memory of one readPersons of 40,000 persons (a 1.3 MB
// request, a 29 MB answer). With the answer built whole (49d4cc2): 94-100 MB of heap and 120 MB
// of RSS added; written as it is made: 58-65 MB and 64-70 MB.
func BenchmarkReadPersonsMemory(b *testing.B) {
	e := benchEnv(b)
	const n = 40000
	if ok := postCount(b, e, bulkPersons("R", n)); ok != n {
		b.Fatalf("%d of %d persons created", ok, n)
	}
	var ids strings.Builder
	for i := range n {
		fmt.Fprintf(&ids, "<identifier>R%06d</identifier>", i)
	}
	body := soap("readPersons", "<sourcedIdSet>"+ids.String()+"</sourcedIdSet>")
	measureRequests(b, e, n, func() string { return body })
}

// BenchmarkReadPersonsAtTheCapMemory is the memory and time of one readPersons of as many
// persons as one read may name (live.MaxReadItems, 50,000: a 1.6 MB request, a 36 MB answer).
func BenchmarkReadPersonsAtTheCapMemory(b *testing.B) {
	e := benchEnv(b)
	n := live.MaxReadItems
	for half := range 2 {
		body := bulkPersons(fmt.Sprintf("C%d", half), n/2)
		if ok := postCount(b, e, body); ok != n/2 {
			b.Fatalf("%d of %d persons created", ok, n/2)
		}
	}
	var ids strings.Builder
	for i := range n {
		fmt.Fprintf(&ids, "<identifier>C%d%06d</identifier>", i/(n/2), i%(n/2))
	}
	body := soap("readPersons", "<sourcedIdSet>"+ids.String()+"</sourcedIdSet>")
	measureRequests(b, e, n, func() string { return body })
}

// BenchmarkUpdatePersonsMemory is the memory of one updatePersons of the 40,000 persons a
// createPersons made (each its email changed): a plural update keeps what each item made, for
// a later item of the same key (soFar). Before and after it (load 2.8-3.5, three runs each):
// heap added 93-110 MB either way, RSS added 114-118 MB and 108-122 MB.
func BenchmarkUpdatePersonsMemory(b *testing.B) {
	e := benchEnv(b)
	const n = 40000
	if ok := postCount(b, e, bulkPersons("U", n)); ok != n {
		b.Fatalf("%d of %d persons created", ok, n)
	}
	i := 0
	measureRequests(b, e, n, func() string {
		i++
		body := strings.Replace(bulkPersons("U", n), "createPersonsRequest", "updatePersonsRequest", 2)
		return strings.ReplaceAll(body, "@example.org", fmt.Sprintf("@update%d.example.org", i))
	})
}

func benchEnv(b *testing.B) *env {
	st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "state.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return envOn(b, st)
}

// measureRequests posts the body next makes once per iteration, checks its n successes, and
// reports the request's size and the largest heap and RSS it added.
func measureRequests(b *testing.B, e *env, n int, next func() string) {
	var heapAdded, rssAdded, size uint64
	for b.Loop() {
		b.StopTimer()
		body := next()
		size = uint64(len(body))
		runtime.GC()
		debug.FreeOSMemory()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		resetPeakRSS()
		rss := peakRSS()
		w := watchHeap()
		b.StartTimer()
		ok := postCount(b, e, body)
		b.StopTimer()
		w.done()
		if ok != n {
			b.Fatalf("%d of %d items succeeded", ok, n)
		}
		heapAdded = max(heapAdded, w.objects-min(w.objects, before.HeapAlloc))
		rssAdded = max(rssAdded, peakRSS()-min(peakRSS(), rss))
		b.StartTimer()
	}
	const mb = 1 << 20
	b.ReportMetric(float64(size)/mb, "request-MB")
	b.ReportMetric(float64(heapAdded)/mb, "peak-heap-added-MB")
	b.ReportMetric(float64(rssAdded)/mb, "peak-RSS-added-MB")
}

// postCount posts body and counts the answer's success statuses without holding the answer.
func postCount(tb testing.TB, e *env, body string) int {
	req, _ := http.NewRequest("POST", e.srv.URL+"/ims/es/v1p0", strings.NewReader(body))
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReaderSize(resp.Body, 64<<10)
	n := 0
	needle := []byte("<codeMajor>success</codeMajor>")
	var carry []byte
	buf := make([]byte, 64<<10)
	for {
		k, err := r.Read(buf)
		chunk := append(carry, buf[:k]...)
		n += bytes.Count(chunk, needle)
		if len(chunk) >= len(needle) {
			carry = append(carry[:0], chunk[len(chunk)-len(needle)+1:]...)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
	return n
}
