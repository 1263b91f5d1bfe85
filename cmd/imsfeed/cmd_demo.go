package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"net/mail"

	"golang.org/x/crypto/ssh"

	"context"
	"fmt"
	"github.com/imsfeed/imsfeed/source/sftptest"
	"io/fs"
	"log/slog"
	"mime"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/importer"
	"github.com/imsfeed/imsfeed/mailer"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/samples"
	"github.com/imsfeed/imsfeed/store/storeurl"
)

// demoNight is one night of the story: which file the SIS drops, and what to say about it.
type demoNight struct {
	file, title, story string
	// operator acts on a held run: "reject" or "approve".
	operator string
}

var demoNights = []demoNight{
	{"night1.xml", "Night 1: the initial load", "The school owner's first full export arrives.", ""},
	{"night2.xml", "Night 2: an ordinary night", "A few new pupils, a few renames, one pupil leaves.", ""},
	{"night3.xml", "Night 3: a broken export", "The SIS export lost half the pupils. The safety filter should stop it.", "reject"},
	{"night4.xml", "Night 4: back to normal", "The export is whole again; last night's leaver comes back too.", ""},
	{"night5.xml", "Night 5: end of term", "Two courses have ended and are no longer in the export.", ""},
	{"night6.xml", "Night 6: the end of the school year", "The 8th graders have graduated: as big a drop as night 3, but real this time.", "approve"},
}

// cmdDemo tells the nightly story on the embedded default in a temporary folder: SQLite, an
// outbox, and the sample nights dropped into a source folder one by one and fetched with the
// same code `imsfeed run` uses.
func (a *app) cmdDemo(ctx context.Context, args []string) error {
	fs := a.flags("demo", "demo [--keep=false]", "imsfeed demo")
	keep := fs.Bool("keep", true, "keep the demo folder afterwards so you can look around (it is in the temp dir); --keep=false removes it")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "imsfeed-demo-")
	if err != nil {
		return err
	}
	if !*keep {
		defer os.RemoveAll(dir)
	}
	// The SIS side: an SFTP server on 127.0.0.1 (real SSH, in this process) serving sis/.
	sisRoot := filepath.Join(dir, "sis")
	incoming := filepath.Join(sisRoot, "outgoing")
	if err := os.MkdirAll(incoming, 0o755); err != nil {
		return err
	}
	srv, keyFile, knownHosts, err := startDemoSFTP(dir, sisRoot)
	if err != nil {
		return fmt.Errorf("demo SFTP server: %w", err)
	}
	defer srv.Close()
	cfgPath := filepath.Join(dir, "imsfeed.yaml")
	cfgText := fmt.Sprintf(`# The demo's configuration: one school owner on the embedded default.
store: sqlite://%s
data_dir: %s
tenants:
  - id: northside
    name: Northside school district
    datasource: northside-sis
    source:
      url: "sftp://sis@%s/outgoing"
      known_hosts: %s
      key_file: %s
      pattern: "*.xml"
      marker: ".done"
      after: move
    subscribers: [it@northside.example.org]
    courses: {types: [Course], archive: true}
    safety:
      min_changes: 10
`, filepath.Join(dir, "state.db"), dir, srv.Addr(), knownHosts, keyFile)
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o644); err != nil {
		return err
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return fmt.Errorf("demo config: %w", err)
	}
	st, err := storeurl.Open(ctx, cfg.Store)
	if err != nil {
		return err
	}
	defer st.Close()
	quiet := a.quietLogger()
	m := mailer.New(nil, cfg.Outbox, quiet)
	im := importer.New(importer.Params{Config: cfg, Store: st, Mailer: m, Logger: quiet, ConfigFile: cfgPath})
	t, _ := cfg.Tenant("northside")

	w := a.stdout
	fmt.Fprintf(w, "imsfeed demo: six nights of Northside school district.\n"+
		"The SIS drops each night's export on an SFTP server (real SSH on %s, host key checked);\n"+
		"imsfeed fetches it, diffs it against the state in SQLite, checks it, applies or holds it,\n"+
		"and writes the status mail to an outbox. Everything lives in %s\n\n", srv.Addr(), dir)
	for i, n := range demoNights {
		data, err := samples.Demo.ReadFile("demo/" + n.file)
		if err != nil {
			return err
		}
		// Each night the SIS leaves a new file; the newest one is imported.
		name := fmt.Sprintf("export-2026-11-%02d.xml", 10+i)
		path := filepath.Join(incoming, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return err
		}
		mt := time.Now().Add(time.Duration(i-len(demoNights)) * time.Hour)
		os.Chtimes(path, mt, mt)
		// The SIS marks the file complete; imsfeed never reads a half-written export.
		if err := os.WriteFile(path+".done", nil, 0o644); err != nil {
			return err
		}

		fmt.Fprintf(w, "── %s ──\n%s The SIS leaves %s.\n\n", n.title, n.story, name)
		run, err := im.Run(ctx, t)
		if err != nil {
			return fmt.Errorf("%s: %w", n.title, err)
		}
		printRun(w, run, 5)
		if run.Status == runs.Held {
			fmt.Fprintf(w, "\n  The run is HELD: nothing was applied. This is the status mail IT staff receive:\n\n")
			if r, err := mailer.Render(mailer.Message{Run: run, Tenant: mailer.Tenant{ID: t.ID, Name: t.Name, Subscribers: t.Subscribers, Location: t.Location()},
				ApproveCommand: fmt.Sprintf("imsfeed --config %s approve %d --by NAME --reason TEXT", cfgPath, run.ID),
				RejectCommand:  fmt.Sprintf("imsfeed --config %s reject %d --by NAME --reason TEXT", cfgPath, run.ID)}); err == nil {
				fmt.Fprintf(w, "    Subject: %s\n\n", r.Subject)
				for _, line := range strings.Split(strings.TrimRight(r.Text, "\n"), "\n") {
					fmt.Fprintf(w, "    │ %s\n", line)
				}
				fmt.Fprintln(w)
			}
			d := importer.Decision{RunID: run.ID, By: "demo operator"}
			if n.operator == "approve" {
				d.Reason = "confirmed with the school office: the 8th graders graduated"
				fmt.Fprintf(w, "  An operator checks with the school office: the pupils really have left. They approve exactly this plan:\n    %s --config %s approve %d --by \"demo operator\" --reason %q\n\n", self(), cfgPath, run.ID, d.Reason)
				run, err = im.Approve(ctx, d)
			} else {
				d.Reason = "the SIS export is broken: half the pupils are missing"
				fmt.Fprintf(w, "  An operator reads it, sees half the pupils missing, and rejects it:\n    %s --config %s reject %d --by \"demo operator\" --reason %q\n\n", self(), cfgPath, run.ID, d.Reason)
				run, err = im.Reject(ctx, d)
			}
			if err != nil {
				return err
			}
			printRun(w, run, 0)
		}
		fmt.Fprintf(w, "\n  Look closer:  %s --config %s show %d\n\n", self(), cfgPath, run.ID)
	}

	fmt.Fprintf(w, "── The morning after ──\n")
	if err := a.demoSummary(ctx, cfgPath, cfg.Outbox); err != nil {
		return err
	}
	return nil
}

func (a *app) demoSummary(ctx context.Context, cfgPath, outbox string) error {
	w := a.stdout
	var mails []string
	filepath.WalkDir(outbox, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".eml") {
			mails = append(mails, p)
		}
		return nil
	})
	sort.Strings(mails)
	fmt.Fprintf(w, "%d status mails are in the outbox (one per attempt), %s\n", len(mails), outbox)
	for _, p := range mails {
		fmt.Fprintf(w, "  %s  %s\n", filepath.Base(p), mailSubject(p))
	}
	me := self()
	fmt.Fprintf(w, "\nTry:\n  %[1]s --config %[2]s runs\n  %[1]s --config %[2]s status --tenant northside\n  %[1]s --config %[2]s trash list --tenant northside\n  %[1]s --config %[2]s archive list --tenant northside\n",
		me, cfgPath)
	if me != "imsfeed" {
		fmt.Fprintln(w, "(`make install` puts imsfeed on your PATH; then type imsfeed instead.)")
	}
	return nil
}

func mailSubject(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	msg, err := mail.ReadMessage(f)
	if err != nil {
		return ""
	}
	return decodeHeader(msg.Header.Get("Subject"))
}

// decodeHeader turns an RFC 2047 encoded subject into text for the terminal.
func decodeHeader(s string) string {
	dec := new(mime.WordDecoder)
	if out, err := dec.DecodeHeader(s); err == nil {
		return out
	}
	return s
}

// quietLogger keeps the demo's narrative readable: only errors (the story prints the rest).
func (a *app) quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}

// startDemoSFTP starts the SIS's SFTP server with a fresh host key and a client key for imsfeed,
// and writes the key file and known_hosts imsfeed is configured with.
func startDemoSFTP(dir, root string) (srv *sftptest.Server, keyFile, knownHosts string, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, "", "", err
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, "", "", err
	}
	block, err := ssh.MarshalPrivateKey(priv, "imsfeed demo")
	if err != nil {
		return nil, "", "", err
	}
	keyFile = filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, "", "", err
	}
	srv, err = sftptest.Start(sftptest.Options{Root: root, User: "sis", AuthorizedKey: sshPub})
	if err != nil {
		return nil, "", "", err
	}
	knownHosts = filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(knownHosts, []byte(srv.KnownHostsLine()+"\n"), 0o644); err != nil {
		srv.Close()
		return nil, "", "", err
	}
	return srv, keyFile, knownHosts, nil
}
