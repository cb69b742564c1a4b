package cli

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"gatehouse/internal/analytics"
	"gatehouse/internal/domain"
)

// sparkWidth is the most characters the error-rate sparkline takes; a
// longer series is merged into that many columns.
const sparkWidth = 60

func (a *app) statsCmd() *cobra.Command {
	var since, until, tenant, consumer, route, model, groupBy string
	var top int
	c := &cobra.Command{
		Use:   "stats [--since 24h] [--until T] [--tenant T] [--consumer C] [--route R] [--model M] [--group-by minute|hour|day] [--top N]",
		Short: "Show call statistics: totals, error rate over time, top reasons, top failing consumers and AI models",
		Long: "Summarise the calls through the gateway from its per-minute rollups (kept 90 days):\n" +
			"totals with latency quantiles, the error rate over time as a sparkline (▁ no errors … █ the\n" +
			"peak, · no calls), the most frequent rejection reasons, the AI models called (with their\n" +
			"failures and cost) and the consumers failing most.\n" +
			"Open the calls behind a figure with 'gatehouse calls --reason CODE --since …'.",
		Example: "  gatehouse stats --since 24h\n  gatehouse stats --since 7d --tenant acme --top 5\n  gatehouse stats --model gpt-4o-mini\n  gatehouse stats -o json",
		RunE: a.run(spec{}, func(ctx context.Context, c *client, _ []string) error {
			q := url.Values{}
			now := a.io.Now()
			for name, v := range map[string]*string{"since": &since, "until": &until} {
				if *v == "" {
					continue
				}
				t, err := parseWhen(*v, now, false)
				if err != nil {
					return fmt.Errorf("--%s: %w", name, err)
				}
				q.Set(name, t.UTC().Format(time.RFC3339Nano))
			}
			for k, v := range map[string]string{"tenant": tenant, "consumer": consumer, "route": route, "model": model, "group_by": groupBy} {
				if v != "" {
					q.Set(k, v)
				}
			}
			if top != 0 {
				q.Set("top", strconv.Itoa(top))
			}
			var rep analytics.Report
			raw, err := c.getJSON(ctx, "/stats", q, &rep)
			if err != nil {
				return err
			}
			if a.json() {
				return printJSON(a.io.Out, raw)
			}
			return renderStats(a.io.Out, rep)
		}),
	}
	f := c.Flags()
	f.StringVar(&since, "since", "24h", "from: a duration back from now (1h, 7d) or an RFC 3339 time")
	f.StringVar(&until, "until", "", "to: a duration back from now or an RFC 3339 time (default now)")
	f.StringVar(&tenant, "tenant", "", "only this tenant's calls (id or slug)")
	f.StringVar(&consumer, "consumer", "", "only this consumer's calls (id, name, or tenant-slug/name)")
	f.StringVar(&route, "route", "", "only this route's calls (route id)")
	f.StringVar(&model, "model", "", "only the calls to this AI model (the name clients ask for)")
	f.StringVar(&groupBy, "group-by", "", "series step: minute, hour or day (default: the finest that fits)")
	f.IntVar(&top, "top", 0, "entries in each top list (default 10)")
	return c
}

// renderStats prints a report for people.
func renderStats(w io.Writer, rep analytics.Report) error {
	t := rep.Totals
	fmt.Fprintf(w, "Calls from %s to %s UTC, by %s\n\n", rep.Since.UTC().Format("2006-01-02 15:04"),
		rep.Until.UTC().Format("2006-01-02 15:04"), clean(rep.GroupBy))
	classes := make([]string, 0, len(t.ByClass))
	for _, c := range []string{"1xx", "2xx", "3xx", "4xx", "5xx", "other"} {
		if n := t.ByClass[c]; n > 0 {
			classes = append(classes, fmt.Sprintf("%s %d", c, n))
		}
	}
	if len(classes) == 0 {
		classes = append(classes, "–")
	}
	if err := fields(w,
		"Requests", fmt.Sprintf("%d   errors %d (%s)   %s", t.Requests, t.Errors, percent(t.ErrorRate), strings.Join(classes, " · ")),
		"Latency", fmt.Sprintf("p50 %s   p95 %s   p99 %s   mean %s   max %s", micros(t.Latency.P50Micros), micros(t.Latency.P95Micros),
			micros(t.Latency.P99Micros), micros(t.Latency.MeanMicros), micros(t.Latency.MaxMicros)),
		"Bytes", fmt.Sprintf("in %s   out %s", size(t.BytesIn), size(t.BytesOut)),
	); err != nil {
		return err
	}
	fmt.Fprintln(w)
	line, peak, peakAt := sparkline(rep.Series, sparkWidth)
	switch {
	case line == "":
		fmt.Fprintln(w, "Error rate  (no points)")
	case peak == 0:
		fmt.Fprintf(w, "Error rate  %s  no errors\n", line)
	default:
		fmt.Fprintf(w, "Error rate  %s  peak %s at %s\n", line, percent(peak), peakAt.UTC().Format("01-02 15:04"))
	}
	if line != "" {
		first, last := rep.Series[0].Time.UTC(), rep.Series[len(rep.Series)-1].Time.UTC()
		width := len([]rune(line))
		left, right := first.Format("15:04"), last.Format("15:04")
		if rep.Until.Sub(rep.Since) > 12*time.Hour {
			left, right = first.Format("01-02 15:04"), last.Format("01-02 15:04")
		}
		if pad := width - len(left) - len(right); pad > 0 {
			fmt.Fprintf(w, "            %s%s%s\n", left, strings.Repeat(" ", pad), right)
		}
	}

	fmt.Fprintln(w, "\nTop reasons")
	if len(rep.TopReasons) == 0 {
		fmt.Fprintln(w, "  No rejections in this range.")
	} else {
		tb := newTable(w, "  REASON", "CALLS", "SHARE OF ERRORS")
		for _, r := range rep.TopReasons {
			tb.row("  "+clean(r.Code), strconv.FormatInt(r.Count, 10), percent(r.Share))
		}
		if err := tb.flush(); err != nil {
			return err
		}
	}
	if len(rep.TopModels) > 0 {
		fmt.Fprintln(w, "\nAI models")
		tb := newTable(w, "  MODEL", "CALLS", "ERRORS", "ERROR RATE", "COST")
		for _, m := range rep.TopModels {
			tb.row("  "+clean(m.Model), strconv.FormatInt(m.Requests, 10), strconv.FormatInt(m.Errors, 10), percent(m.ErrorRate),
				domain.Micros(m.CostMicros).String())
		}
		if err := tb.flush(); err != nil {
			return err
		}
	}
	fmt.Fprintln(w, "\nTop failing consumers")
	if len(rep.TopFailingConsumers) == 0 {
		fmt.Fprintln(w, "  No failing consumers in this range.")
		return nil
	}
	tb := newTable(w, "  CONSUMER", "TENANT", "FAILURES", "CALLS", "ERROR RATE", "TOP REASON")
	for _, c := range rep.TopFailingConsumers {
		tb.row("  "+clean(c.Consumer), or(c.Tenant, "–"), strconv.FormatInt(c.Failures, 10), strconv.FormatInt(c.Requests, 10),
			percent(c.ErrorRate), or(c.TopReason, "–"))
	}
	return tb.flush()
}

// sparkBlocks are the eight levels of a sparkline, lowest first.
const sparkBlocks = "▁▂▃▄▅▆▇█"

// sparkline draws the series' error rate, one character per point (or per
// run of points merged to fit width): ▁ for no errors, up to █ for the
// peak, · for no calls at all. It returns the line, the peak rate and when
// its column starts.
func sparkline(series []analytics.Point, width int) (string, float64, time.Time) {
	if len(series) == 0 || width <= 0 {
		return "", 0, time.Time{}
	}
	per := (len(series) + width - 1) / width
	type col struct {
		at               time.Time
		requests, errors int64
	}
	var cols []col
	for i := 0; i < len(series); i += per {
		c := col{at: series[i].Time}
		for _, p := range series[i:min(i+per, len(series))] {
			c.requests += p.Requests
			c.errors += p.Errors
		}
		cols = append(cols, c)
	}
	var peak float64
	var peakAt time.Time
	rates := make([]float64, len(cols))
	for i, c := range cols {
		if c.requests > 0 {
			rates[i] = float64(c.errors) / float64(c.requests)
		}
		if rates[i] > peak {
			peak, peakAt = rates[i], c.at
		}
	}
	blocks := []rune(sparkBlocks)
	var b strings.Builder
	for i, c := range cols {
		switch {
		case c.requests == 0:
			b.WriteRune('·')
		case rates[i] == 0:
			b.WriteRune(blocks[0])
		default:
			// 1..7 of the levels above ▁, proportional to the peak, so any
			// error shows.
			lvl := int(math.Ceil(rates[i] / peak * float64(len(blocks)-1)))
			b.WriteRune(blocks[max(1, min(lvl, len(blocks)-1))])
		}
	}
	return b.String(), peak, peakAt
}

// percent renders a 0..1 ratio.
func percent(r float64) string {
	return strconv.FormatFloat(r*100, 'f', 1, 64) + "%"
}

// size renders a byte count.
func size(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
}
