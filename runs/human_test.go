package runs

import "testing"

// An error's text names its file, position and record once each, however the message that
// reached the run record began.
func TestErrorTextNamesEachPartOnce(t *testing.T) {
	const file = "ims-data.xml"
	for _, c := range []struct {
		name string
		err  Error
		want string
	}{
		{"whole-file problem naming its file",
			Error{Message: file + ": 57 of 63 memberships skipped as bad, over the limit of 25 (max_skipped)"},
			file + ": 57 of 63 memberships skipped as bad, over the limit of 25 (max_skipped)"},
		{"whole-file problem without its file",
			Error{Message: "the file is empty"},
			file + ": the file is empty"},
		{"position and record in the message",
			Error{Line: 11, Column: 54, Key: "P1", Message: file + ":11:54: record P1: duplicate key"},
			file + ":11:54: record P1: duplicate key"},
		{"position as a line",
			Error{Line: 3, Column: 2, Message: "line 3:2: bare '&'"},
			file + ":3:2: bare '&'"},
		{"a message that only mentions the file later",
			Error{Message: "cannot read " + file + ": permission denied"},
			file + ": cannot read " + file + ": permission denied"},
	} {
		if got := c.err.Text(file); got != c.want {
			t.Errorf("%s: Text = %q, want %q", c.name, got, c.want)
		}
	}
	if got := (&Error{Message: "store unreachable"}).Text(""); got != "store unreachable" {
		t.Errorf("no file: Text = %q", got)
	}
}
