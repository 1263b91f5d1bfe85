package importer

import (
	"sync"

	"github.com/imsfeed/imsfeed/importer/ims"
	"github.com/imsfeed/imsfeed/record"
)

// pipe runs the diff beside the reader: the reader (on the caller's goroutine) hands its
// records over in batches through a bounded channel to a goroutine that feeds them, in file
// order, to the handler behind it. Reading (parsing) and hashing and diffing (the records'
// content hashes, state lookups, the plan's records) then use both cores at once, and at most
// pipeDepth batches wait between them, so memory does not grow with the file. The reader's
// goroutine bounds a re-import's time (the other stood idle about nine tenths of it), so the
// content hashes are computed here (ims.Options.HandlerHashes): the reader must be given
// that option. Records are fresh allocations (ims.Handler), so handing the pointers over is
// safe.
type pipe struct {
	next  ims.Handler
	rel   ims.RelationHandler // next's, or nil
	batch *pipeBatch
	full  chan *pipeBatch
	free  chan *pipeBatch
	done  chan struct{}

	mu  sync.Mutex
	err error // the first error of next: the reader stops at its next record
}

// A batch of records in file order; each item is one of its kinds.
type pipeBatch struct{ items []pipeItem }

type pipeItem struct {
	p *record.Person
	g *record.Group
	m *record.Membership
	r *record.Relation
}

const (
	pipeBatchSize = 1024
	pipeDepth     = 8
)

// newPipe starts the goroutine that feeds next; close must be called once the reader is done.
func newPipe(next ims.Handler) *pipe {
	p := &pipe{next: next, full: make(chan *pipeBatch, pipeDepth), free: make(chan *pipeBatch, pipeDepth+2), done: make(chan struct{})}
	p.rel, _ = next.(ims.RelationHandler)
	for range pipeDepth + 2 {
		p.free <- &pipeBatch{items: make([]pipeItem, 0, pipeBatchSize)}
	}
	p.batch = <-p.free
	go p.run()
	return p
}

func (p *pipe) run() {
	defer close(p.done)
	failed := false
	for b := range p.full {
		if !failed {
			if err := p.feed(b); err != nil {
				failed = true
				p.mu.Lock()
				p.err = err
				p.mu.Unlock()
			}
		}
		clear(b.items)
		b.items = b.items[:0]
		p.free <- b
	}
}

func (p *pipe) feed(b *pipeBatch) error {
	for i := range b.items {
		it := &b.items[i]
		var err error
		switch {
		case it.m != nil:
			it.m.ComputeHash()
			err = p.next.Membership(it.m)
		case it.p != nil:
			it.p.ComputeHash()
			err = p.next.Person(it.p)
		case it.g != nil:
			it.g.ComputeHash()
			err = p.next.Group(it.g)
		case it.r != nil:
			it.r.ComputeHash()
			err = p.rel.Relation(it.r)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (p *pipe) add(it pipeItem) error {
	p.batch.items = append(p.batch.items, it)
	if len(p.batch.items) < pipeBatchSize {
		return nil
	}
	p.full <- p.batch
	p.batch = <-p.free
	p.mu.Lock()
	err := p.err
	p.mu.Unlock()
	return err
}

func (p *pipe) Person(r *record.Person) error         { return p.add(pipeItem{p: r}) }
func (p *pipe) Group(r *record.Group) error           { return p.add(pipeItem{g: r}) }
func (p *pipe) Membership(r *record.Membership) error { return p.add(pipeItem{m: r}) }

// relPipe is a pipe whose handler also takes relations (the reader asks its handler for that).
type relPipe struct{ *pipe }

func (p relPipe) Relation(r *record.Relation) error { return p.add(pipeItem{r: r}) }

// handler is what the reader is given: the pipe, with Relation when next takes relations.
func (p *pipe) handler() ims.Handler {
	if p.rel != nil {
		return relPipe{p}
	}
	return p
}

// close hands over the last batch, waits until every record reached next, and returns next's
// first error.
func (p *pipe) close() error {
	if len(p.batch.items) > 0 {
		p.full <- p.batch
	}
	p.batch = nil
	close(p.full)
	<-p.done
	return p.err
}
