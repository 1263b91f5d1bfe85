package main

import (
	"context"
	"errors"
	"fmt"
	iofs "io/fs"
	"os"

	"github.com/imsfeed/imsfeed/config"
)

// starterConfig is what `imsfeed init` writes: a config that loads as it is, with the keys an
// operator sets first, each explained. The README's configuration reference has every key.
const starterConfig = `# imsfeed configuration, written by ` + "`imsfeed init`" + `. Every key, with its default, is in the
# README's "Configuration reference". Secrets never go in this file: they come from *_file paths
# or environment variables. Check it with: imsfeed --config THIS_FILE status --tenant northside

# The state store. Leave it out for the embedded default: SQLite under data_dir. In production:
#   store: postgres://imsfeed@localhost/imsfeed?sslmode=disable
# data_dir: /var/lib/imsfeed      # SQLite file, spool and outbox (default ~/.local/share/imsfeed)

# The mail server for the status mails. Without it, mails are written to data_dir/outbox.
# smtp:
#   host: smtp.example.org
#   port: 587
#   username: imsfeed
#   password_file: /run/secrets/smtp-password   # or $IMSFEED_SMTP_PASSWORD
#   from: "imsfeed <imsfeed@example.org>"

tenants:
  - id: northside                   # lower-case letters, digits, - and _
    name: Northside school district
    # Where the SIS leaves its nightly export: a local folder, or SFTP:
    #   url: "sftp://sis@files.example.org/srv/sis/outgoing"
    #   known_hosts: /etc/imsfeed/known_hosts   # the server's host key (ssh-keyscan prints it)
    #   key_file: /etc/imsfeed/id_ed25519
    source:
      url: /srv/sis/northside/outgoing
      pattern: "*.xml"              # the newest match is taken
      settle: 10s                   # a file changed less than this long ago is watched until it stops
    mode: snapshot                  # the file is the whole truth: what it lacks is gone
    schedule: "0 2 * * *"           # when ` + "`imsfeed serve`" + ` runs it
    subscribers: [it@northside.example.org]   # who gets the status mail of every attempt
    courses: {types: [Course, CourseSection], archive: true}
    # The safety filter: a run over these limits is held until an operator approves it.
    safety:
      min_changes: 25               # fewer changes than this never trip
      persons:     {inserts: 20%, updates: 50%, deletes: 10%}
      groups:      {inserts: 20%, updates: 50%, deletes: 10%}
      memberships: {inserts: 25%, updates: 50%, deletes: 10%}
`

// cmdInit writes the starter config, and never over an existing file unless --force.
func (a *app) cmdInit(ctx context.Context, args []string) error {
	fs := a.flags("init", "init [--force] [FILE]", "imsfeed init /etc/imsfeed/imsfeed.yaml")
	force := fs.Bool("force", false, "replace FILE if it exists")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usagef("init: at most one FILE (default imsfeed.yaml)")
	}
	path := "imsfeed.yaml"
	if len(pos) == 1 {
		path = pos[0]
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if *force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o640)
	if errors.Is(err, iofs.ErrExist) {
		return usagef("init: %s exists; give another FILE, or --force to replace it", path)
	}
	if err != nil {
		return fmt.Errorf("init: %w", err)
	}
	if _, err := f.WriteString(starterConfig); err != nil {
		f.Close()
		return fmt.Errorf("init: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	if _, err := config.Load(path); err != nil { // the starter must load as written
		return fmt.Errorf("init: the starter config does not load (a bug): %w", err)
	}
	fmt.Fprintf(a.stdout, "wrote %s: edit the tenant's source and subscribers, then try\n  %s --config %s status --tenant northside\n", path, self(), path)
	return nil
}
