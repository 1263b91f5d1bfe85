package console

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// passwordHash is what an operator's password_file holds: a bcrypt hash ($2a$, $2b$, $2y$:
// htpasswd -nbBC 12 "" PASSWORD | cut -c2-) or an argon2id hash in the PHC string format
// ($argon2id$v=19$m=65536,t=3,p=4$SALT$HASH: echo -n PASSWORD | argon2 SALT -id -e).
type passwordHash struct {
	bcrypt []byte
	argon  *argonHash
}

type argonHash struct {
	memory, time uint32 // KiB, passes
	threads      uint8
	salt, key    []byte
}

// parsePasswordHash reads a hash; the error never quotes it.
func parsePasswordHash(s string) (*passwordHash, error) {
	if strings.HasPrefix(s, "$argon2id$") {
		a, err := parseArgon2id(s)
		if err != nil {
			return nil, err
		}
		return &passwordHash{argon: a}, nil
	}
	if _, err := bcrypt.Cost([]byte(s)); err != nil {
		return nil, errors.New("not a bcrypt or argon2id hash")
	}
	return &passwordHash{bcrypt: []byte(s)}, nil
}

func parseArgon2id(s string) (*argonHash, error) {
	f := strings.Split(s, "$") // "", "argon2id", "v=19", "m=...,t=...,p=...", salt, key
	if len(f) != 6 {
		return nil, errors.New("an argon2id hash has the form $argon2id$v=19$m=M,t=T,p=P$SALT$HASH")
	}
	if f[2] != "v=19" {
		return nil, errors.New("argon2id hash: only version 19 (v=19) is known")
	}
	var a argonHash
	var p uint32
	if _, err := fmt.Sscanf(f[3], "m=%d,t=%d,p=%d", &a.memory, &a.time, &p); err != nil || a.memory == 0 || a.time == 0 || p == 0 || p > 255 {
		return nil, errors.New("argon2id hash: its parameters are not m=M,t=T,p=P")
	}
	a.threads = uint8(p)
	var err error
	if a.salt, err = base64.RawStdEncoding.DecodeString(f[4]); err != nil || len(a.salt) < 8 {
		return nil, errors.New("argon2id hash: its salt is not base64 of at least 8 bytes")
	}
	if a.key, err = base64.RawStdEncoding.DecodeString(f[5]); err != nil || len(a.key) < 16 {
		return nil, errors.New("argon2id hash: its hash is not base64 of at least 16 bytes")
	}
	return &a, nil
}

// matches compares in constant time (bcrypt's own compare does too).
func (h *passwordHash) matches(pw []byte) bool {
	if h.argon != nil {
		a := h.argon
		got := argon2.IDKey(pw, a.salt, a.time, a.memory, a.threads, uint32(len(a.key)))
		return subtle.ConstantTimeCompare(got, a.key) == 1
	}
	return bcrypt.CompareHashAndPassword(h.bcrypt, pw) == nil
}

// dummy is a hash of a random password that costs as much to check as h: an unknown name is
// checked against it, so that how long a failure takes does not tell whether a name exists.
func (h *passwordHash) dummy() (*passwordHash, error) {
	pw := []byte(randomToken())
	if h.argon != nil {
		a := *h.argon
		a.salt = []byte(randomToken())[:len(h.argon.salt)]
		a.key = argon2.IDKey(pw, a.salt, a.time, a.memory, a.threads, uint32(len(h.argon.key)))
		return &passwordHash{argon: &a}, nil
	}
	cost, err := bcrypt.Cost(h.bcrypt)
	if err != nil {
		return nil, err
	}
	b, err := bcrypt.GenerateFromPassword(pw, cost)
	if err != nil {
		return nil, err
	}
	return &passwordHash{bcrypt: b}, nil
}
