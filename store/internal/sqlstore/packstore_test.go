package sqlstore

import (
	"testing"

	"github.com/imsfeed/imsfeed/record"
)

// The stores take the eight IMS roles 01 to 08 and nothing else, and no empty key: the
// memberships table's CHECKs did so when memberships were rows; packs are checked here, on
// every write (the apply, early inserts, the live channel, undo).
func TestMembershipRoles(t *testing.T) {
	for _, role := range []string{"01", "02", "03", "04", "05", "06", "07", "08"} {
		if err := checkKey(record.MembershipKey{Group: "G", Member: "P", Role: role}); err != nil {
			t.Errorf("role %q refused: %v", role, err)
		}
	}
	for _, role := range []string{"", "00", "09", "1", "10", "001", "01 ", "0a", "x1"} {
		if err := checkKey(record.MembershipKey{Group: "G", Member: "P", Role: role}); err == nil {
			t.Errorf("role %q taken", role)
		}
	}
	for _, k := range []record.MembershipKey{{Member: "P", Role: "01"}, {Group: "G", Role: "01"}} {
		if err := checkKey(k); err == nil {
			t.Errorf("%+v taken", k)
		}
	}
}
