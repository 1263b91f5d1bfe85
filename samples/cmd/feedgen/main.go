// Command feedgen writes one large, deterministic IMS Enterprise 1.1 feed (see package
// samples/feedgen), e.g. the 300 MB file of `make bench`:
//
//	go run ./samples/cmd/feedgen -persons 150000 -groups 20000 -members 75 -o big.xml
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/imsfeed/imsfeed/samples/feedgen"
)

func main() {
	var o feedgen.Options
	out := flag.String("o", "-", "output file (- for stdout); written to a temp name, then renamed")
	flag.IntVar(&o.Persons, "persons", 150000, "persons (teachers and pupils) on the first night")
	flag.IntVar(&o.Groups, "groups", 20000, "groups: school owner, schools, classes and courses")
	flag.IntVar(&o.MembersPerGroup, "members", 75, "members per class or course")
	flag.Int64Var(&o.Seed, "seed", 1, "seed: the same options give the same bytes")
	flag.Float64Var(&o.DropPercent, "drop", 0, "percent of persons (and their memberships) left out")
	flag.Float64Var(&o.RenamePercent, "rename", 0, "percent of persons with another family name")
	flag.IntVar(&o.Night, "night", 1, "night number: pupils leave and arrive from night 2 on")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: feedgen [flags]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*out, o); err != nil {
		fmt.Fprintln(os.Stderr, "feedgen:", err)
		os.Exit(1)
	}
}

func run(out string, o feedgen.Options) error {
	if out == "-" {
		w := bufio.NewWriterSize(os.Stdout, 1<<16)
		if err := feedgen.Write(w, o); err != nil {
			return err
		}
		return w.Flush()
	}
	// A temp name in the same folder and a rename: a reader never sees half a feed.
	f, err := os.CreateTemp(filepath.Dir(out), ".feedgen-*.xml")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // no-op after the rename
	err = feedgen.Write(f, o)
	if err == nil {
		err = f.Chmod(0o644) // CreateTemp makes 0600; a feed is an ordinary file
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", out, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	return os.Rename(f.Name(), out)
}
