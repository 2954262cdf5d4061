// Command perfgate runs LLM-serving performance workloads outside `go test`: the simulated
// engine, trace tools, load runs against an endpoint, and baseline comparison.
//
// Usage:
//
//	perfgate <command> [flags]
//
// Run `perfgate help` for the list of commands.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/perfgate/perfgate/internal/termtext"
)

// command is one subcommand. Each lives in its own file and registers itself in init.
type command struct {
	name    string
	summary string
	// run executes the command. It returns the process exit status and an error to print.
	run func(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error)
}

var commands = map[string]command{}

func register(c command) {
	if _, dup := commands[c.name]; dup {
		panic("perfgate: command registered twice: " + c.name)
	}
	commands[c.name] = c
}

// signalsCaught is called once SIGINT and SIGTERM are caught (a test hook: the process
// tests signal perfgate only after it).
var signalsCaught = func() {}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	signalsCaught()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: testable.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "perfgate: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	code, err := runInterruptible(ctx, c, args[1:], stdout, stderr)
	if err != nil {
		// Errors may quote what a server or a file said: escaped for the terminal and a CI
		// log, with the message's own lines kept.
		fmt.Fprintf(stderr, "perfgate %s: %s\n", c.name, termtext.Text(err.Error()))
		if code == 0 {
			code = 1
		}
	}
	return code
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "perfgate: performance regression testing for LLM inference serving")
	fmt.Fprintln(w, "\nUsage:\n\n\tperfgate <command> [flags]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "\t%-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'perfgate <command> -h' for a command's flags. Every command ends within a second of\nCtrl-C or SIGTERM, with exit status 130 (perfgate mock: 0).")
}
