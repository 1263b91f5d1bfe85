package console

import (
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// argon2idFromTheTool was made by the argon2 command-line tool (Debian's argon2):
// echo -n "correct horse battery staple" | argon2 imsfeedsalt01 -id -t 2 -m 12 -p 2 -e
const argon2idFromTheTool = "$argon2id$v=19$m=4096,t=2,p=2$aW1zZmVlZHNhbHQwMQ$1lJ/KhF2tUvFlWr58ZxX/UNkMTiE017MC0hQG1uSfIY"

// Issue 12: a password_file may hold a bcrypt or an argon2id hash; a malformed one is refused
// without being quoted; the dummy an unknown name is checked against costs what the
// operators' hash costs (a bcrypt of cost 4 against operators' cost 12 told names by time).
func TestPasswordHashesBcryptAndArgon2id(t *testing.T) {
	bc, err := bcrypt.GenerateFromPassword([]byte("correct horse battery staple"), 6)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{string(bc), argon2idFromTheTool} {
		h, err := parsePasswordHash(s)
		if err != nil {
			t.Fatalf("%.10s…: %v", s, err)
		}
		if !h.matches([]byte("correct horse battery staple")) || h.matches([]byte("correct horse battery stapler")) || h.matches(nil) {
			t.Errorf("%.10s… does not tell the right password from wrong ones", s)
		}
		d, err := h.dummy()
		if err != nil {
			t.Fatal(err)
		}
		if d.matches([]byte("correct horse battery staple")) {
			t.Errorf("the dummy of %.10s… matches the operator's password", s)
		}
		if h.argon != nil {
			if d.argon == nil || d.argon.memory != 4096 || d.argon.time != 2 || d.argon.threads != 2 || len(d.argon.key) != 32 {
				t.Errorf("the dummy of an argon2id hash: %+v", d.argon)
			}
		} else if c, _ := bcrypt.Cost(d.bcrypt); c != 6 {
			t.Errorf("the dummy of a bcrypt hash of cost 6 has cost %d", c)
		}
	}
	for _, bad := range []string{
		"correct horse battery staple", // a clear-text password by mistake
		"$argon2i$v=19$m=4096,t=2,p=2$aW1zZmVlZHNhbHQwMQ$1lJ/KhF2tUvFlWr58ZxX/UNkMTiE017MC0hQG1uSfIY",
		"$argon2id$v=16$m=4096,t=2,p=2$aW1zZmVlZHNhbHQwMQ$1lJ/KhF2tUvFlWr58ZxX/UNkMTiE017MC0hQG1uSfIY",
		"$argon2id$v=19$m=0,t=2,p=2$aW1zZmVlZHNhbHQwMQ$1lJ/KhF2tUvFlWr58ZxX/UNkMTiE017MC0hQG1uSfIY",
		"$argon2id$v=19$m=4096,t=2,p=2$!!$1lJ/KhF2tUvFlWr58ZxX/UNkMTiE017MC0hQG1uSfIY",
		"$argon2id$v=19$m=4096,t=2,p=2$aW1zZmVlZHNhbHQwMQ$c2hvcnQ",
		"$argon2id$v=19$m=4096,t=2,p=2$aW1zZmVlZHNhbHQwMQ",
	} {
		if _, err := parsePasswordHash(bad); err == nil {
			t.Errorf("%q was taken for a hash", bad)
		} else if strings.Contains(err.Error(), "horse") || strings.Contains(err.Error(), "aW1z") {
			t.Errorf("the error quotes the file: %v", err)
		}
	}
}
