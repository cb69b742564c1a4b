package cli

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"gatehouse/internal/domain"
	"gatehouse/internal/reason"
)

// Outcome marks in a rendered trace.
const (
	markPass = "✓"
	markFail = "✗"
	markSkip = "–"
)

// RenderTrace writes a call record and its decision trace as a readable
// numbered list (used by `explain` and by quickstart): the record's facts,
// then one line per step with ✓/✗/– for pass/fail/skip, its stage, check and
// detail, then what the caller was told against what only the operator sees.
//
// It prints absolute times only, so the same call always renders the same
// text (quickstart output and golden tests depend on it). Every value is
// made terminal-safe: paths and user agents come from whoever called the
// gateway.
func RenderTrace(w io.Writer, call domain.Call) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("Request:", or(call.RequestID, "–"))
	if !call.Time.IsZero() {
		row("Time:", call.Time.UTC().Format(time.RFC3339Nano))
	}
	row("Call:", fmt.Sprintf("%s %s → %s", or(call.Method, "?"), or(call.Path, "?"), outcome(call)))
	if call.RouteID != "" || call.ServiceID != "" {
		row("Route:", fmt.Sprintf("%s (service %s)", or(call.RouteID, "–"), or(call.ServiceID, "–")))
	} else {
		row("Route:", "none matched")
	}
	row("Tenant:", or(call.TenantID, "–"))
	row("Consumer:", or(call.ConsumerID, "– (not identified)"))
	cred := or(call.CredentialID, "–")
	if call.CredentialType != "" {
		cred += " (" + clean(call.CredentialType) + ")"
	}
	row("Credential:", cred)
	client := or(call.ClientIP, "–")
	if call.UserAgent != "" {
		client += "  " + strconv.Quote(call.UserAgent)
	}
	row("Client:", client)
	lat := "–"
	if call.LatencyMicros > 0 {
		lat = micros(call.LatencyMicros) + " total"
	}
	if call.UpstreamMicros > 0 {
		lat += ", " + micros(call.UpstreamMicros) + " upstream"
	}
	if call.Engine != "" {
		lat += " (engine " + clean(call.Engine) + ")"
	}
	row("Latency:", lat)
	row("Bytes:", fmt.Sprintf("%d in, %d out", call.BytesIn, call.BytesOut))
	_ = tw.Flush()

	fmt.Fprintln(w)
	if len(call.Trace) == 0 {
		fmt.Fprintln(w, "Decision trace: none recorded (traces are kept for rejected calls).")
	} else {
		fmt.Fprintln(w, "Decision trace:")
		var buf bytes.Buffer
		tw = tabwriter.NewWriter(&buf, 0, 4, 2, ' ', 0)
		width := len(strconv.Itoa(len(call.Trace)))
		for i, s := range call.Trace {
			detail := clean(s.Detail)
			if s.Private {
				if detail != "" {
					detail += "  "
				}
				detail += "(operator only)"
			}
			fmt.Fprintf(tw, "  %*d. %s %s\t%s\t%s\n", width, i+1, mark(s.Outcome), or(s.Stage, "?"), or(s.Check, "?"), detail)
		}
		_ = tw.Flush()
		// A step without detail leaves the padding of its check column at
		// the end of the line; drop it.
		for _, line := range strings.SplitAfter(buf.String(), "\n") {
			if line != "" {
				fmt.Fprintln(w, strings.TrimRight(line, " \n"))
			}
		}
	}

	fmt.Fprintln(w)
	// A rejection on a route with minimal disclosure says so in an
	// operator-only step (check "disclosure"): the caller saw the family.
	minimal := false
	for _, s := range call.Trace {
		minimal = minimal || (s.Private && s.Check == "disclosure")
	}
	told := "The caller was told: " + outcome(call)
	if e, ok := reason.Lookup(call.Code); ok {
		told += " — " + e.Title
	}
	if minimal && call.Code != "" {
		told = "The caller was told only: " + strconv.Itoa(call.Status) + " " + clean(reason.Family(call.Code)) +
			" (this route's disclosure is minimal: not the code, detail or hint)"
	}
	if call.RequestID != "" {
		told += ", with request ID " + clean(call.RequestID)
	}
	fmt.Fprintln(w, told+".")
	var private []string
	for i, s := range call.Trace {
		if s.Private {
			private = append(private, strconv.Itoa(i+1))
		}
	}
	switch {
	case len(call.Trace) == 0:
	case minimal:
		fmt.Fprintln(w, "This route discloses minimally: share no more of this trace with the caller than the code family.")
	case len(private) == 0:
		fmt.Fprintln(w, "No step is operator-only: this trace may be shared with the caller.")
	default:
		if len(private) == 1 {
			fmt.Fprintf(w, "Step %s is for the operator only: it reveals more than the caller's credential proved, so the caller was not told.\n", private[0])
		} else {
			fmt.Fprintf(w, "Steps %s are for the operator only: they reveal more than the caller's credential proved, so the caller was not told.\n", strings.Join(private, ", "))
		}
	}
}

// outcome says "401 key.revoked" or "200 OK".
func outcome(call domain.Call) string {
	s := strconv.Itoa(call.Status)
	if call.Status == 0 {
		s = "no status"
	}
	if call.Code != "" {
		return s + " " + clean(call.Code)
	}
	if t := http.StatusText(call.Status); t != "" {
		return s + " " + t
	}
	return s
}

// mark is the one-character symbol for a step's outcome.
func mark(o string) string {
	switch o {
	case domain.OutcomePass:
		return markPass
	case domain.OutcomeFail:
		return markFail
	case domain.OutcomeSkip:
		return markSkip
	default:
		return "?"
	}
}
