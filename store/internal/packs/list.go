package packs

import (
	"encoding/binary"
	"slices"
)

// A member list is the groups a member has entries in, sorted, each once: how the stores find
// a member's memberships without an index entry a membership (the console's person page, the
// live channel's reads by person, a change of a person's key).

// AppendList encodes groups, sorted and each once, after dst: how many, then each key as the
// length of the prefix it shares with the previous one and the rest.
func AppendList(dst []byte, groups []string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(groups)))
	prev := ""
	for _, g := range groups {
		n := sharedPrefix(prev, g)
		dst = binary.AppendUvarint(dst, uint64(n))
		dst = binary.AppendUvarint(dst, uint64(len(g)-n))
		dst = append(dst, g[n:]...)
		prev = g
	}
	return dst
}

// DecodeList reads the groups AppendList wrote.
func DecodeList(data []byte) ([]string, error) {
	d := decoder{data: data}
	n := d.uvarint()
	if d.err != nil || n > uint64(len(data)) {
		return nil, ErrCorrupt
	}
	groups := make([]string, n)
	prev := ""
	for i := range groups {
		shared, rest := d.uvarint(), d.bytes()
		if d.err != nil || shared > uint64(len(prev)) {
			return nil, ErrCorrupt
		}
		groups[i] = prev[:shared] + string(rest)
		if i > 0 && groups[i] <= prev {
			return nil, ErrCorrupt
		}
		prev = groups[i]
	}
	if len(d.data) != 0 {
		return nil, ErrCorrupt
	}
	return groups, nil
}

// Join adds group to the sorted list (once).
func Join(groups []string, group string) []string {
	i, found := slices.BinarySearch(groups, group)
	if found {
		return groups
	}
	return slices.Insert(groups, i, group)
}

// Leave removes group from the sorted list.
func Leave(groups []string, group string) []string {
	i, found := slices.BinarySearch(groups, group)
	if !found {
		return groups
	}
	return slices.Delete(groups, i, i+1)
}
