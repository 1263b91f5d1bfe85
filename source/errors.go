package source

import "errors"

// ErrNoFile is returned (wrapped) by Source.Fetch when the folder holds no file that matches
// the pattern and is ready to be read: nothing to import tonight.
var ErrNoFile = errors.New("no matching file")

// ErrNotSettled is returned (wrapped, together with ErrNoFile) by Source.Fetch when the newest
// matching file is still being written: its size or time changed during the settle time.
// Running again later picks it up.
var ErrNotSettled = errors.New("newest file is still being written")

// ErrHostKey is returned (wrapped) by Open when the server's host key is not in known_hosts
// or differs from the one recorded there. The message shows the key's SHA256 fingerprint and
// what to do.
var ErrHostKey = errors.New("host key not trusted")

// ErrChanged is returned (wrapped) by Source.Done when the remote file is no longer the one
// that was fetched (its size or time differ); it is then left in place, not moved or deleted.
var ErrChanged = errors.New("file changed since it was fetched")

// ErrTooLarge is returned (wrapped) by Source.Fetch when the newest matching file is larger
// than Config.MaxSize. Nothing of it was downloaded or hashed.
var ErrTooLarge = errors.New("file is larger than the size limit")
