package main

import (
	"context"
	"os"

	"github.com/imsfeed/imsfeed/importer/ims"
	"github.com/imsfeed/imsfeed/record"
)

// imsRead reads the file as a nightly import does: snapshot mode, duplicate keys left to the
// diff (which finds them with the state it holds anyway), the records built aside, a handler
// that only counts.
func imsRead(ctx context.Context, f *os.File) (map[string]int, error) {
	return imsReadWith(ctx, f, ims.Options{Mode: ims.ModeSnapshot, SkipDuplicateCheck: true, Aside: true})
}

// imsReadValidate reads as `imsfeed validate` does: the reader keeps a set of key hashes to
// find duplicates itself (8–16 bytes a record).
func imsReadValidate(ctx context.Context, f *os.File) (map[string]int, error) {
	return imsReadWith(ctx, f, ims.Options{Mode: ims.ModeSnapshot})
}

// imsReadEvent is the reader in event mode, where duplicates are allowed.
func imsReadEvent(ctx context.Context, f *os.File) (map[string]int, error) {
	return imsReadWith(ctx, f, ims.Options{Mode: ims.ModeEvent})
}

func imsReadWith(ctx context.Context, f *os.File, o ims.Options) (map[string]int, error) {
	var h countingHandler
	res, err := ims.Read(ctx, f, f.Name(), o, &h)
	if err != nil {
		return nil, err
	}
	return map[string]int{
		"persons": h.persons, "groups": h.groups, "memberships": h.memberships,
		"warnings": len(res.Warnings),
	}, nil
}

type countingHandler struct{ persons, groups, memberships int }

func (h *countingHandler) Person(*record.Person) error         { h.persons++; return nil }
func (h *countingHandler) Group(*record.Group) error           { h.groups++; return nil }
func (h *countingHandler) Membership(*record.Membership) error { h.memberships++; return nil }
