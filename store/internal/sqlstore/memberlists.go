package sqlstore

import (
	"bufio"
	"container/heap"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/imsfeed/imsfeed/store/internal/packs"
)

// listSort is an initial load's member lists made from its memberships as the file gives them
// (group by group): each (member, group) is taken as it comes, and given back by member once
// the file is read. Memory is one run of them: a full run is sorted by member and written to a
// scratch file, and the runs are merged at the end. The 316.8 MB feed's 1,469,925 pairs held
// whole took about 40 MB of heap with the map that numbered the members, and grew with the
// tenant (the 1,013.8 MB feed's initial load peaked at 325 MB against 162 MB before packs).
type listSort struct {
	groups []string // the group of each pair is a place in these

	run     []listPair
	file    *os.File
	w       *bufio.Writer
	written int64
	spans   [][2]int64 // each run's offset and length in file
	merge   listMerge
	started bool
	gs      []string
	data    []byte
}

type listPair struct {
	memberType int64
	member     string
	group      uint32
}

func comparePairs(a, b *listPair) int {
	if a.memberType != b.memberType {
		return int(a.memberType - b.memberType)
	}
	return strings.Compare(a.member, b.member)
}

// listRun is how many pairs a run holds before it is written (about 6 MB of them).
var listRun = 1 << 17

// SetListRun sets listRun until the returned function puts it back: a test's small tenant then
// has its member lists merged from several runs. For tests only.
func SetListRun(n int) func() {
	old := listRun
	listRun = n
	return func() { listRun = old }
}

// add takes that member (of memberType) is in the group at place g of groups.
func (s *listSort) add(memberType int64, member string, g uint32) error {
	s.run = append(s.run, listPair{memberType, member, g})
	if len(s.run) >= listRun {
		return s.spill()
	}
	return nil
}

// spill sorts the run and writes it to the scratch file.
func (s *listSort) spill() error {
	if len(s.run) == 0 {
		return nil
	}
	if s.file == nil {
		f, err := os.CreateTemp("", "imsfeed-member-lists-*")
		if err != nil {
			return err
		}
		s.file, s.w = f, bufio.NewWriterSize(f, 64<<10)
	}
	slices.SortFunc(s.run, func(a, b listPair) int { return comparePairs(&a, &b) })
	start := s.written
	var buf []byte
	for i := range s.run {
		p := &s.run[i]
		buf = binary.AppendUvarint(buf[:0], uint64(p.memberType))
		buf = binary.AppendUvarint(buf, uint64(len(p.member)))
		buf = append(buf, p.member...)
		buf = binary.AppendUvarint(buf, uint64(p.group))
		n, err := s.w.Write(buf)
		s.written += int64(n)
		if err != nil {
			return err
		}
	}
	s.spans = append(s.spans, [2]int64{start, s.written - start})
	clear(s.run)
	s.run = s.run[:0]
	return nil
}

// close removes the scratch file.
func (s *listSort) close() {
	if s.file != nil {
		s.file.Close()
		os.Remove(s.file.Name())
		s.file = nil
	}
}

// start readies the pairs to be given back by member: the last run sorted in memory when it is
// the only one, else written too and all runs merged.
func (s *listSort) start() error {
	s.started = true
	if s.file == nil {
		slices.SortFunc(s.run, func(a, b listPair) int { return comparePairs(&a, &b) })
		s.merge.mem = s.run
		return nil
	}
	if err := s.spill(); err != nil {
		return err
	}
	if err := s.w.Flush(); err != nil {
		return err
	}
	for _, sp := range s.spans {
		r := &runReader{r: bufio.NewReaderSize(io.NewSectionReader(s.file, sp[0], sp[1]), 64<<10)}
		ok, err := r.next()
		if err != nil {
			return err
		}
		if ok {
			s.merge.runs = append(s.merge.runs, r)
		}
	}
	heap.Init(&s.merge)
	return nil
}

// next is the next member's list, by member type and key: its groups sorted, each once.
func (s *listSort) next() (listKey, []byte, bool, error) {
	if !s.started {
		if err := s.start(); err != nil {
			return listKey{}, nil, false, err
		}
	}
	first, ok, err := s.merge.pop()
	if err != nil || !ok {
		return listKey{}, nil, false, err
	}
	s.gs = append(s.gs[:0], s.groups[first.group])
	for {
		p, ok, err := s.merge.peek()
		if err != nil {
			return listKey{}, nil, false, err
		}
		if !ok || comparePairs(&p, &first) != 0 {
			break
		}
		if _, _, err := s.merge.pop(); err != nil {
			return listKey{}, nil, false, err
		}
		s.gs = append(s.gs, s.groups[p.group])
	}
	slices.Sort(s.gs)
	s.gs = slices.Compact(s.gs) // a member in a group that came back
	s.data = packs.AppendList(s.data[:0], s.gs)
	return listKey{first.memberType, first.member}, s.data, true, nil
}

// runReader reads one written run, a pair ahead.
type runReader struct {
	r   *bufio.Reader
	cur listPair
}

func (r *runReader) next() (bool, error) {
	t, err := binary.ReadUvarint(r.r)
	if errors.Is(err, io.EOF) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	n, err := binary.ReadUvarint(r.r)
	if err != nil {
		return false, err
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r.r, b); err != nil {
		return false, err
	}
	g, err := binary.ReadUvarint(r.r)
	if err != nil {
		return false, err
	}
	r.cur = listPair{int64(t), string(b), uint32(g)}
	return true, nil
}

// listMerge gives the pairs of the runs (or of the one run in memory) in member order.
type listMerge struct {
	mem  []listPair
	runs []*runReader // a heap by their current pair
}

func (m *listMerge) Len() int           { return len(m.runs) }
func (m *listMerge) Less(i, j int) bool { return comparePairs(&m.runs[i].cur, &m.runs[j].cur) < 0 }
func (m *listMerge) Swap(i, j int)      { m.runs[i], m.runs[j] = m.runs[j], m.runs[i] }
func (m *listMerge) Push(x any)         { m.runs = append(m.runs, x.(*runReader)) }
func (m *listMerge) Pop() any {
	r := m.runs[len(m.runs)-1]
	m.runs = m.runs[:len(m.runs)-1]
	return r
}

func (m *listMerge) peek() (listPair, bool, error) {
	if m.runs == nil {
		if len(m.mem) == 0 {
			return listPair{}, false, nil
		}
		return m.mem[0], true, nil
	}
	if len(m.runs) == 0 {
		return listPair{}, false, nil
	}
	return m.runs[0].cur, true, nil
}

func (m *listMerge) pop() (listPair, bool, error) {
	if m.runs == nil {
		if len(m.mem) == 0 {
			return listPair{}, false, nil
		}
		p := m.mem[0]
		m.mem = m.mem[1:]
		return p, true, nil
	}
	if len(m.runs) == 0 {
		return listPair{}, false, nil
	}
	r := m.runs[0]
	p := r.cur
	ok, err := r.next()
	if err != nil {
		return listPair{}, false, err
	}
	if ok {
		heap.Fix(m, 0)
	} else {
		heap.Pop(m)
	}
	return p, true, nil
}
