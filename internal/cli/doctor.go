package cli

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"gatehouse/internal/doctor"
)

// doctorFlags are the flags of `gatehouse doctor`.
type doctorFlags struct {
	url, method, data, cacert string
	headers                   []string
	send                      bool
	timeout                   time.Duration
}

// doctorCmd is `gatehouse doctor`: the troubleshooter for the person
// holding the credential (§6). Unlike the admin commands it never talks to
// the admin API: it needs only the URL and headers of the failing request.
func (a *app) doctorCmd() *cobra.Command {
	var f doctorFlags
	c := &cobra.Command{
		Use:   "doctor --url URL [-H 'Header: value']… [--method M] [--data BODY] [--send]",
		Short: "Find out why a request to the gateway fails, and what to do about it",
		Long: "Diagnose one request, the way you would by hand, in seconds: first the credential, with no\n" +
			"network (which header carries it and whether the scheme is right; a key's format, checksum and\n" +
			"environment; a JWT's header and claims, decoded without verification, against this machine's\n" +
			"clock), then the network layer by layer (DNS, TCP, TLS, HTTP) and the gateway's clock, then the\n" +
			"gateway's own dry run of the route (GET /.well-known/gatehouse/whoami?method=&path=), and with\n" +
			"--send the real request (the only way to see upstream problems).\n\n" +
			"Prints a numbered checklist (✓ pass, ! worth knowing, ✗ wrong), then 'verdict: ok' or the reason\n" +
			"code, then 'fix:' with one sentence. Exits 0 only if the request would pass. -o json prints\n" +
			"{\"verdict\",\"fix\",\"checks\":[{\"name\",\"ok\",\"detail\"}]} for scripts. Secrets are never printed:\n" +
			"keys appear as gk_<env>_<id>_…<last 4>. --admin-url and --token are not used.",
		Example: "  gatehouse doctor --url https://api.example.com/v1/orders -H \"Authorization: Bearer $KEY\"\n" +
			"  gatehouse doctor --url https://api.example.com/v1/orders -X POST -d '{\"sku\":1}' -H \"X-API-Key: $KEY\" --send\n" +
			"  gatehouse doctor --url https://api.example.com/v1/orders -H \"Authorization: Bearer $TOKEN\" -o json",
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runDoctor(cmd, args, f)
		},
	}
	fl := c.Flags()
	fl.StringVar(&f.url, "url", "", "the full URL of the request, e.g. https://api.example.com/v1/orders")
	fl.StringArrayVarP(&f.headers, "header", "H", nil, "a request header 'Name: value', as in curl (repeatable)")
	fl.StringVarP(&f.method, "method", "X", "", "the request method (default GET, or POST with --data)")
	fl.StringVarP(&f.data, "data", "d", "", "the request body for --send ('@file' reads a file, '@-' standard input)")
	fl.BoolVar(&f.send, "send", false, "also make the real request (needed to find upstream problems; it may change data)")
	fl.DurationVar(&f.timeout, "timeout", doctor.DefaultTimeout, "time limit of each network step (DNS, connect, TLS, HTTP)")
	fl.StringVar(&f.cacert, "cacert", "", "PEM file of the CA that signed the gateway's certificate (a private CA)")
	return c
}

func (a *app) runDoctor(cmd *cobra.Command, args []string, f doctorFlags) error {
	usage := func(err error) error {
		fmt.Fprintf(a.io.Err, "error: %s\nRun '%s --help' for usage.\n", clean(err.Error()), cmd.CommandPath())
		return fmt.Errorf("%w: %w", ErrReported, err)
	}
	s := spec{required: []string{"url"},
		extraArgs: "doctor takes flags only: give the URL with --url and each header with -H 'Name: value'"}
	if err := s.check(cmd, args); err != nil {
		return usage(err)
	}
	if a.g.output != outTable && a.g.output != outJSON {
		return usage(fmt.Errorf("unknown output format %q: use -o table or -o json", a.g.output))
	}
	o := doctor.Options{URL: f.url, Method: f.method, Send: f.send, Timeout: f.timeout, Now: a.io.Now}
	for i, h := range f.headers {
		hd, err := doctor.ParseHeader(h)
		if err != nil {
			return usage(fmt.Errorf("-H number %d: %w", i+1, err))
		}
		o.Headers = append(o.Headers, hd)
	}
	if f.data != "" {
		body, err := a.readData(f.data)
		if err != nil {
			return usage(err)
		}
		o.Body = body
	}
	if f.cacert != "" {
		pem, err := os.ReadFile(f.cacert)
		if err != nil {
			return usage(fmt.Errorf("--cacert: %w", err))
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return usage(fmt.Errorf("--cacert %s holds no PEM certificate", f.cacert))
		}
		o.RootCAs = pool
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	rep, err := doctor.Run(ctx, o)
	if err != nil {
		return usage(err)
	}
	if a.json() {
		enc := json.NewEncoder(a.io.Out)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return a.fail(err)
		}
	} else {
		a.printReport(rep, f.method, f.url, o.Body != nil)
	}
	if !rep.OK() {
		// The report is the explanation; nothing more goes to stderr.
		return fmt.Errorf("%w: doctor verdict %s", ErrReported, rep.Verdict)
	}
	return nil
}

// readData reads --data: literal, @file or @- (standard input), as curl.
func (a *app) readData(d string) ([]byte, error) {
	name, ok := strings.CutPrefix(d, "@")
	if !ok {
		return []byte(d), nil
	}
	if name == "-" {
		b, err := io.ReadAll(a.io.In)
		if err != nil {
			return nil, fmt.Errorf("--data @-: reading standard input: %w", err)
		}
		return b, nil
	}
	b, err := os.ReadFile(name)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("--data @%s: %w", name, pe.Err)
		}
		return nil, fmt.Errorf("--data: %w", err)
	}
	return b, nil
}

var groupTitles = map[doctor.Group]string{
	doctor.GroupLocal:   "Local checks (no network)",
	doctor.GroupNetwork: "Network",
	doctor.GroupGateway: "Gateway",
}

// printReport renders the checklist for people. Details come partly from
// the server, so they are cleaned of control characters.
func (a *app) printReport(rep *doctor.Report, method, rawURL string, hasBody bool) {
	w := a.io.Out
	if method == "" {
		method = "GET"
		if hasBody {
			method = "POST"
		}
	}
	fmt.Fprintf(w, "Diagnosing %s %s\n", strings.ToUpper(clean(method)), clean(displayURL(rawURL)))
	var group doctor.Group
	for i, c := range rep.Checks {
		if c.Group != group {
			group = c.Group
			fmt.Fprintf(w, "\n%s\n", groupTitles[group])
		}
		fmt.Fprintf(w, "%3d. %s %s: %s\n", i+1, levelMark(c.Level), c.Name, clean(c.Detail))
		for _, n := range c.Notes {
			fmt.Fprintf(w, "        %s\n", clean(n))
		}
	}
	fmt.Fprintf(w, "\nverdict: %s\nfix: %s\n", clean(rep.Verdict), clean(rep.Fix))
}

func levelMark(l doctor.Level) string {
	switch l {
	case doctor.Pass:
		return "✓"
	case doctor.Warn:
		return "!"
	}
	return "✗"
}

// displayURL shows a URL without its query, which may carry a key.
func displayURL(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "(the URL given)"
	}
	q := ""
	if u.RawQuery != "" {
		q = "?…"
	}
	u.RawQuery, u.Fragment, u.User = "", "", nil
	return u.String() + q
}
