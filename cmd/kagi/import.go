package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"kagi/auth"
)

// cmdImport is `kagi import [--update] FILE` (§12.1): the brokerage's customers, one JSON line
// each, from FILE or standard input ("-"). On a terminal it shows its progress in place;
// elsewhere it writes the failed lines to stderr and the summary to stdout. Its exit status is
// 0 when every line was imported or already there, 1 when a line failed, 2 when the import did
// not run or did not finish (usage, settings, the file, the database, an interruption).
func cmdImport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("import")
	update := fs.Bool("update", false, "replace an existing account's name, email, password, PIN and phones with the line's")
	batch := fs.Int("batch", auth.DefaultImportBatch, "lines written per transaction")
	flags := addAppFlags(fs, forCLI, "use the development database and secrets under .kagi/")
	file, err := importArgs(fs, args, stderr)
	if err != nil {
		return usageError(err)
	}
	if *batch < 1 {
		return usageError(errors.New("--batch must be at least 1"))
	}
	in := io.Reader(os.Stdin)
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return usageError(err)
		}
		defer f.Close()
		in = f
	}
	a, err := flags.open(ctx, getenv, stderr)
	if err != nil {
		return usageError(err)
	}
	defer a.close()

	p := importProgress{out: stderr, start: time.Now(), live: isTerminal(stderr)}
	counts, err := a.auth.Import(ctx, in, auth.ImportOptions{
		Update: *update, BatchSize: *batch, Progress: p.show, Failure: p.failed,
	})
	p.clear()
	elapsed := time.Since(p.start)
	fmt.Fprintf(stdout, "kagi import: %d lines: %d created, %d existing, %d updated, %d failed in %s (%.0f accounts/s); peak memory %d MiB\n",
		counts.Done(), counts.Created, counts.Existing, counts.Updated, counts.Failed, elapsed.Round(time.Millisecond),
		float64(counts.Done())/elapsed.Seconds(), peakMemoryMiB())
	switch {
	case err != nil:
		return exitError{status: 2, err: fmt.Errorf("%w; the batches written stay: run the file again to go on", err)}
	case counts.Failed > 0:
		return exitError{status: 1, err: fmt.Errorf("%d of %d lines failed", counts.Failed, counts.Done())}
	}
	return nil
}

// importArgs parses import's flags, before or after its one argument, FILE or "-".
func importArgs(fs *flag.FlagSet, args []string, stderr io.Writer) (string, error) {
	if err := fs.Parse(args); err != nil {
		return "", parseArgs(fs, args, stderr) // the same error, and -h printed
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return "", errors.New(`a FILE to import is required ("-" reads standard input)`)
	}
	if err := parseArgs(fs, rest[1:], stderr); err != nil {
		return "", err
	}
	return rest[0], nil
}

// usageError is an error of import that stopped it before any line: exit status 2.
func usageError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return exitError{status: 2, err: err}
}

// importProgress reports an import as it goes: on a terminal a line updated in place after
// each batch, and the failed lines.
type importProgress struct {
	out   io.Writer
	start time.Time
	live  bool
	shown bool
}

func (p *importProgress) show(c auth.ImportCounts) {
	if !p.live {
		return
	}
	fmt.Fprintf(p.out, "\r\033[Kkagi import: %d lines read, %d created, %d existing, %d updated, %d failed (%.0f accounts/s)",
		c.Read, c.Created, c.Existing, c.Updated, c.Failed, float64(c.Done())/time.Since(p.start).Seconds())
	p.shown = true
}

func (p *importProgress) failed(f auth.ImportFailure) {
	p.clear()
	fmt.Fprintf(p.out, "line %d: %s\n", f.Line, f.Reason)
}

// clear removes the progress line, so that what follows starts a clean line.
func (p *importProgress) clear() {
	if p.shown {
		fmt.Fprint(p.out, "\r\033[K")
		p.shown = false
	}
}

// isTerminal reports whether w is a character device (a terminal), where progress is shown.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// peakMemoryMiB is the most memory the process has held at once (its peak resident set).
func peakMemoryMiB() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return int64(ru.Maxrss) / 1024 // KiB on Linux
}
