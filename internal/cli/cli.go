// Package cli is Gatehouse's admin command-line client: `gatehouse tenant
// create`, `gatehouse key revoke`, `gatehouse explain <request-id>` and the
// rest of §7. It speaks only HTTP to the admin API (never the store), so the
// same binary administers a local gateway or a remote one.
//
// The package provides the admin subcommands as a library; cmd/gatehouse
// owns the root command and the serve/quickstart commands.
//
// Every command prints its own errors to IO.Err (the API's problem title and
// detail, or a sentence on how to reach the admin API or fix the token) and
// returns an error wrapping ErrReported, so main only has to exit non-zero.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// Environment variables the CLI reads (§7).
const (
	EnvAdminURL   = "GATEHOUSE_ADMIN_URL"
	EnvAdminToken = "GATEHOUSE_ADMIN_TOKEN"
	// DefaultAdminURL is the admin listener's default address (§1).
	DefaultAdminURL = "http://127.0.0.1:8081"
)

// ErrReported wraps every error a command returns after printing it to
// IO.Err: the caller should exit non-zero without printing it again.
var ErrReported = errors.New("reported")

// IO is everything the commands touch outside themselves; tests inject it.
type IO struct {
	Out, Err io.Writer
	Getenv   func(string) string
	// In is read by `key import --key-file -`; nil means os.Stdin.
	In io.Reader
	// Now tells the time for relative times in tables and for --expires /
	// --since; nil means time.Now.
	Now func() time.Time
}

func (o IO) withDefaults() IO {
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.Err == nil {
		o.Err = os.Stderr
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.In == nil {
		o.In = os.Stdin
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Output formats for -o.
const (
	outTable = "table"
	outJSON  = "json"
)

// globals holds the flags every command accepts. The token's flag default is
// empty on purpose: a default taken from the environment would be printed by
// --help.
type globals struct {
	adminURL string
	token    string
	output   string
}

// app is one tree of commands sharing IO and global flags.
type app struct {
	io IO
	g  globals
}

// Commands returns the admin subcommands to add to the root command: tenant,
// consumer, key, service, route, calls, explain, audit, admin, status, and
// for the AI gateway provider, model, budget and prompt.
//
// The commands print their own errors (and silence cobra's), so the root
// command's main only has to exit 1 when Execute returns an error wrapping
// ErrReported.
func Commands(io IO) []*cobra.Command {
	a := &app{io: io.withDefaults()}
	cmds := []*cobra.Command{
		a.tenantCmd(),
		a.consumerCmd(),
		a.keyCmd(),
		a.serviceCmd(),
		a.routeCmd(),
		a.subscriptionCmd(),
		a.credentialCmd(),
		a.issuerCmd(),
		a.callsCmd(),
		a.explainCmd(),
		a.auditCmd(),
		a.adminCmd(),
		a.userCmd(),
		a.statusCmd(),
		a.doctorCmd(),
		a.providerCmd(),
		a.modelCmd(),
		a.budgetCmd(),
		a.promptCmd(),
		a.statsCmd(),
		a.alertCmd(),
		a.identityKeyCmd(),
	}
	for _, c := range cmds {
		a.addGlobalFlags(c)
		c.SetFlagErrorFunc(a.flagError)
		silence(c)
	}
	return cmds
}

func (a *app) addGlobalFlags(c *cobra.Command) {
	f := c.PersistentFlags()
	f.StringVar(&a.g.adminURL, "admin-url", "", "admin API base URL (default $"+EnvAdminURL+" or "+DefaultAdminURL+")")
	f.StringVar(&a.g.token, "token", "", "admin bearer token (default $"+EnvAdminToken+"); never printed")
	f.StringVarP(&a.g.output, "output", "o", outTable, "output format: table (for people) or json (the API's JSON, for scripts)")
}

// silence stops cobra printing errors and usage for c and its children: the
// commands print a precise message themselves, and a usage dump after "the
// admin API isn't reachable" only buries it.
func silence(c *cobra.Command) {
	c.SilenceErrors = true
	c.SilenceUsage = true
	for _, s := range c.Commands() {
		silence(s)
	}
}

// flagError reports a flag parsing error with a pointer to --help.
func (a *app) flagError(c *cobra.Command, err error) error {
	fmt.Fprintf(a.io.Err, "error: %v\nRun '%s --help' for usage.\n", err, c.CommandPath())
	return fmt.Errorf("%w: %w", ErrReported, err)
}

// fail prints err to IO.Err and returns it wrapped in ErrReported.
func (a *app) fail(err error) error {
	if errors.Is(err, ErrReported) {
		return err
	}
	fmt.Fprintf(a.io.Err, "error: %s\n", cleanLines(err.Error()))
	return fmt.Errorf("%w: %w", ErrReported, err)
}

// usageError is a mistake in the command line itself (missing flag, wrong
// number of arguments); it is printed with a pointer to --help.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// spec declares a leaf command's arguments and required flags, checked by
// run before anything is sent; cobra's own checks are bypassed because they
// run before (and print differently from) the command's error reporting.
type spec struct {
	args     []string // names of positional arguments, e.g. "<id>"
	required []string // flag names
	// extraArgs, when set, replaces the message for unexpected arguments.
	// Their values are never echoed: one may be a secret pasted in the
	// wrong place.
	extraArgs string
}

// run wraps a leaf command's body: it checks arguments and required flags,
// validates the global flags, builds the client and reports any error.
func (a *app) run(s spec, fn func(ctx context.Context, c *client, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := s.check(cmd, args); err != nil {
			fmt.Fprintf(a.io.Err, "error: %s\nRun '%s --help' for usage.\n", err.Error(), cmd.CommandPath())
			return fmt.Errorf("%w: %w", ErrReported, err)
		}
		c, err := a.client()
		if err != nil {
			return a.fail(err)
		}
		ctx := cmd.Context()
		if ctx == nil {
			ctx = context.Background()
		}
		if err := fn(ctx, c, args); err != nil {
			return a.fail(err)
		}
		return nil
	}
}

func (s spec) check(cmd *cobra.Command, args []string) error {
	switch {
	case len(args) < len(s.args):
		return &usageError{fmt.Sprintf("missing argument %s", strings.Join(s.args[len(args):], " "))}
	case len(args) > len(s.args):
		if s.extraArgs != "" {
			return &usageError{s.extraArgs}
		}
		if len(s.args) == 0 {
			return &usageError{fmt.Sprintf("unexpected argument (%d given): this command takes flags only", len(args))}
		}
		return &usageError{fmt.Sprintf("too many arguments: expected %s, got %d", strings.Join(s.args, " "), len(args))}
	}
	var missing []string
	for _, name := range s.required {
		f := cmd.Flags().Lookup(name)
		if f == nil || !f.Changed {
			missing = append(missing, "--"+name)
		}
	}
	if len(missing) > 0 {
		return &usageError{"missing required flag " + strings.Join(missing, ", ")}
	}
	return nil
}

// group returns a parent command such as `key` whose verbs are its
// children. Run with no verb it prints help; with an unknown one it says so.
func (a *app) group(use, short, long string, verbs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{
		Use:   use,
		Short: short,
		Long:  long,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			var names []string
			for _, v := range cmd.Commands() {
				if v.IsAvailableCommand() {
					names = append(names, v.Name())
				}
			}
			verb := fmt.Sprintf("%q", args[0])
			if len(args[0]) > 20 { // not a verb; maybe a pasted secret: do not echo it
				verb = "(" + strconv.Itoa(len(args[0])) + " characters)"
			}
			err := fmt.Errorf("unknown verb %s for %q (verbs: %s)", verb, cmd.CommandPath(), strings.Join(names, ", "))
			fmt.Fprintf(a.io.Err, "error: %s\nRun '%s --help' for usage.\n", clean(err.Error()), cmd.CommandPath())
			return fmt.Errorf("%w: %w", ErrReported, err)
		},
	}
	c.AddCommand(verbs...)
	return c
}

// client builds the API client from the global flags and environment.
func (a *app) client() (*client, error) {
	switch a.g.output {
	case outTable, outJSON:
	default:
		return nil, fmt.Errorf("unknown output format %q: use -o table or -o json", a.g.output)
	}
	base := a.g.adminURL
	if base == "" {
		base = a.io.Getenv(EnvAdminURL)
	}
	if base == "" {
		base = DefaultAdminURL
	}
	token := a.g.token
	if token == "" {
		token = a.io.Getenv(EnvAdminToken)
	}
	return newClient(base, token)
}

// json reports whether -o json was asked for.
func (a *app) json() bool { return a.g.output == outJSON }
