package main

import (
	"context"
	"os"

	"github.com/imsfeed/imsfeed/importer/ims"
	"github.com/imsfeed/imsfeed/record"
)

// imsRead reads the file with the project's reader in snapshot mode (duplicate-key checks on,
// as on a nightly import) and a handler that only counts.
func imsRead(ctx context.Context, f *os.File) (map[string]int, error) {
	return imsReadMode(ctx, f, ims.ModeSnapshot)
}

// imsReadEvent is imsRead in event mode, where keys are not collected for the duplicate check:
// the difference between the two shows what that check costs in time and memory.
func imsReadEvent(ctx context.Context, f *os.File) (map[string]int, error) {
	return imsReadMode(ctx, f, ims.ModeEvent)
}

func imsReadMode(ctx context.Context, f *os.File, mode ims.Mode) (map[string]int, error) {
	var h countingHandler
	res, err := ims.Read(ctx, f, f.Name(), ims.Options{Mode: mode}, &h)
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
