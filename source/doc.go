// Package source is where import files come from: an SFTP folder (github.com/pkg/sftp over
// golang.org/x/crypto/ssh) or a local folder, chosen by the URL scheme of a tenant's Config.
//
// A Source picks the newest file matching the tenant's pattern that is no longer being written
// (it has gone unchanged for the settle time by the server's clock, or its marker file exists),
// copies it into a local spool atomically (temporary name, fsync, rename) while computing its
// SHA-256, and after the import leaves, moves or deletes the remote file.
//
// SFTP host keys are always checked against an OpenSSH known_hosts file; an unknown or changed
// host key is refused. Errors and log lines name the source by its URL as RedactURL shows it
// (a URL holding a password, a query or a fragment is refused); keys, passphrases and passwords
// are never printed.
//
// Start reading at Open (source.go); config.go parses the URL, folder.go holds the logic both
// kinds of source share, sftp.go and local.go the two kinds. Package sftptest runs an
// in-process SFTP server for tests and the demo.
package source
