package ims

import (
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"

	"github.com/imsfeed/imsfeed/record"
)

// tree is one record as the scanner read it: its elements, attributes and text in arenas,
// linked by index (node.first, node.a0, node.t0 and the rest count from the record's start).
type tree struct {
	nodes []node
	attrs []nattr
	text  []byte
}

// builder turns a record's tree into Person, Group and Membership records and hands them to
// the handler (records.go, mapping.go).
type builder struct {
	tree
	file string
	h    Handler
	maps [record.NumTypes][]compiledMapping
	res  *Result
	// attrBuf gathers one record's attributes (keepAttrs copies them out).
	attrBuf record.Attrs

	rec record.Type // type of the record being read or built
	// A membership's members are built as they close once the group key is known.
	mGroup    string
	mGroupSet bool
	mMembers  int

	dupCheck bool
	seed     maphash.Seed
	seen     [3]keySet

	// aside's builder: the job being built, and for each of res.Warnings the job it came from
	job      int
	jobOf    []int
	tagWarns bool
}

func (p *builder) warn(line, col int, key, format string, args ...any) {
	w := record.Warning{Line: line, Column: col, Key: clip(key, keyMax), Message: fmt.Sprintf(format, args...)}
	w.Kind = w.Class() // the messages say it: "repaired: …", "…; skipped", "… ignored"
	p.res.Warnings = append(p.res.Warnings, w)
	if p.tagWarns {
		p.jobOf = append(p.jobOf, p.job)
	}
}

// aside builds records on a goroutine of its own (Options.Aside): the scanner copies each
// record's tree (or a membership's root with one member) into a batch, and hands full
// batches over through a bounded channel; at most asideDepth of them wait, so memory does
// not grow with the file. The builder there calls the handler, one record at a time in file
// order. Its first error stops it; the scanner sees that at its next batch and stops too.
type aside struct {
	scan *builder // the scanner's: the state a job carries over
	b    builder  // the goroutine's own
	out  Result   // what b found: counts, skips, its warnings

	batch      *asideBatch
	full, free chan *asideBatch
	bigOne     chan struct{} // holds a token while a large batch waits or is built
	done       chan struct{}

	handed    int   // jobs handed over so far
	warnedAt  []int // for each of the scanner's warnings, how many jobs had been handed then
	stopped   atomic.Bool
	mu        sync.Mutex
	err       error // the builder's first error (a fatal of a record or the handler's)
	panicked  any   // a panic on the builder's goroutine, raised again on the reader's
	failedJob int   // the job that failed
}

// asideBatch is jobs in file order, their trees one after another in the arenas.
type asideBatch struct {
	tree
	first int // index of jobs[0] among all jobs
	jobs  []asideJob
	big   bool // larger than asideBig
}

// asideJob is what builder.build needs besides the tree: the scanner's state at hand-off.
type asideJob struct {
	n0, n1, a0, a1, t0, t1 int32 // the tree: the batch's arenas [x0:x1]
	root, member           int32
	rec                    record.Type
	group                  string
	groupSet, dupCheck     bool
	members                int
}

const (
	asideJobs  = 1024      // a batch holds at most this many records
	asideBytes = 128 << 10 // or about this much tree
	asideBig   = 1 << 20   // a batch larger than this holds a large record
	// Batches waiting at most. The scanner is the slower of the two: the batches wait only
	// while the handler does more than usual (a record that changed), and each import of a
	// night of many small ones holds them all.
	asideDepth = 4
)

// errStopped stops the scanner when the builder failed; finish returns the builder's error.
var errStopped = fmt.Errorf("stopped: the builder failed")

func newAside(scan *builder) *aside {
	a := &aside{
		scan:   scan,
		b:      builder{file: scan.file, h: scan.h, maps: scan.maps, seed: scan.seed, tagWarns: true},
		full:   make(chan *asideBatch, asideDepth),
		free:   make(chan *asideBatch, asideDepth+2),
		bigOne: make(chan struct{}, 1),
		done:   make(chan struct{}),
	}
	a.b.res = &a.out
	for range asideDepth + 2 {
		a.free <- &asideBatch{}
	}
	a.batch = <-a.free
	go a.run()
	return a
}

// readerWarned notes a warning of the scanner's: it comes before the records not yet handed.
func (a *aside) readerWarned() { a.warnedAt = append(a.warnedAt, a.handed) }

// handOff copies the scanner's record (the whole of its tree) into the batch as a job.
func (a *aside) handOff(root, member int32) {
	s, bt := a.scan, a.batch
	j := asideJob{
		root: root, member: member, rec: s.rec, group: s.mGroup, groupSet: s.mGroupSet,
		dupCheck: s.dupCheck, members: s.mMembers,
		n0: int32(len(bt.nodes)), a0: int32(len(bt.attrs)), t0: int32(len(bt.text)),
	}
	bt.nodes = append(bt.nodes, s.nodes...)
	bt.attrs = append(bt.attrs, s.attrs...)
	bt.text = append(bt.text, s.text...)
	j.n1, j.a1, j.t1 = int32(len(bt.nodes)), int32(len(bt.attrs)), int32(len(bt.text))
	bt.jobs = append(bt.jobs, j)
	a.handed++
	if len(bt.jobs) < asideJobs && bt.size() < asideBytes {
		return
	}
	a.send(bt)
	a.batch = <-a.free
	a.batch.first = a.handed
	if a.stopped.Load() {
		panic(fatal{errStopped})
	}
}

func (bt *asideBatch) size() int {
	return len(bt.text) + len(bt.nodes)*nodeSize + len(bt.attrs)*nattrSize
}

// send hands a batch over. A large one (a large record: up to max_record_size) waits until
// the last large one was built and is dropped once built, so the records held aside stay
// within about one large record and asideDepth ordinary batches.
func (a *aside) send(bt *asideBatch) {
	if bt.big = bt.size() > asideBig; bt.big {
		a.bigOne <- struct{}{}
	}
	a.full <- bt
}

func (a *aside) run() {
	defer close(a.done)
	for bt := range a.full {
		if !a.stopped.Load() {
			a.build(bt)
		}
		bt.nodes, bt.attrs, bt.text, bt.jobs = bt.nodes[:0], bt.attrs[:0], bt.text[:0], bt.jobs[:0]
		if bt.big {
			bt.tree = tree{}
			<-a.bigOne
		}
		a.free <- bt
	}
}

func (a *aside) build(bt *asideBatch) {
	b := &a.b
	defer func() {
		if r := recover(); r != nil {
			a.mu.Lock()
			if f, ok := r.(fatal); ok {
				a.err = f.err
			} else {
				a.panicked = r
			}
			a.failedJob = b.job
			a.mu.Unlock()
			a.stopped.Store(true)
		}
	}()
	for i := range bt.jobs {
		j := &bt.jobs[i]
		b.tree = tree{nodes: bt.nodes[j.n0:j.n1:j.n1], attrs: bt.attrs[j.a0:j.a1:j.a1], text: bt.text[j.t0:j.t1:j.t1]}
		b.rec, b.mGroup, b.mGroupSet, b.mMembers, b.dupCheck = j.rec, j.group, j.groupSet, j.members, j.dupCheck
		b.job = bt.first + i
		b.build(j.root, j.member)
	}
	b.tree = tree{}
}

// finish hands over the last batch, waits until every record was built, and puts the
// builder's findings into res, as a Read without aside would have them: its warnings among
// the scanner's in file order, and its error (earlier in the file than any of the scanner's)
// in place of err.
func (a *aside) finish(res *Result, err error) error {
	if len(a.batch.jobs) > 0 {
		a.send(a.batch)
	}
	a.batch = nil
	close(a.full)
	<-a.done
	if a.panicked != nil {
		panic(a.panicked)
	}
	last := a.handed // the scanner's warnings after the failed job were never given
	if a.err != nil {
		err, last = a.err, a.failedJob
	}
	for t := range res.Counts {
		res.Counts[t] += a.out.Counts[t]
	}
	res.Skipped = append(res.Skipped, a.out.Skipped...)
	res.EmptyMemberships = append(res.EmptyMemberships, a.out.EmptyMemberships...)
	mine, theirs := res.Warnings, a.out.Warnings
	merged := make([]record.Warning, 0, len(mine)+len(theirs))
	i := 0
	for k, w := range theirs {
		for ; i < len(mine) && a.warnedAt[i] <= a.b.jobOf[k]; i++ {
			merged = append(merged, mine[i])
		}
		merged = append(merged, w)
	}
	for ; i < len(mine) && a.warnedAt[i] <= last; i++ {
		merged = append(merged, mine[i])
	}
	res.Warnings = merged
	return err
}
