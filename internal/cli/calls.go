package cli

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"gatehouse/internal/domain"
)

func (a *app) callsCmd() *cobra.Command {
	var since, until, consumer, route, tenant, rsn string
	var status int
	var lf listFlags
	c := &cobra.Command{
		Use:   "calls [--since 1h] [--consumer C] [--route R] [--status 401] [--reason key.revoked] [--limit N]",
		Short: "List recent calls through the proxy, newest first",
		Long: "List the call log, newest first. Rejected calls carry a reason code; open one with\n" +
			"'gatehouse explain <request-id>' to see its full decision trace.",
		Example: "  gatehouse calls --reason key.revoked --since 1h\n  gatehouse calls --status 401 -o json",
		RunE: a.run(spec{}, func(ctx context.Context, c *client, _ []string) error {
			q := url.Values{}
			now := a.io.Now()
			if since != "" {
				t, err := parseWhen(since, now, false)
				if err != nil {
					return fmt.Errorf("--since: %w", err)
				}
				q.Set("since", t.UTC().Format(time.RFC3339Nano))
			}
			if until != "" {
				t, err := parseWhen(until, now, false)
				if err != nil {
					return fmt.Errorf("--until: %w", err)
				}
				q.Set("until", t.UTC().Format(time.RFC3339Nano))
			}
			if tenant != "" {
				q.Set("tenant", tenant)
			}
			if consumer != "" {
				q.Set("consumer", consumer)
			}
			if route != "" {
				q.Set("route", route)
			}
			if status != 0 {
				if status < 100 || status > 599 {
					return fmt.Errorf("--status %d is not an HTTP status", status)
				}
				q.Set("status", strconv.Itoa(status))
			}
			if rsn != "" {
				q.Set("reason", rsn)
			}
			return list(ctx, a, c, listing[domain.Call]{
				path: "/calls", plural: "calls",
				header: []string{"TIME", "REQUEST ID", "METHOD", "PATH", "STATUS", "REASON", "CONSUMER", "CREDENTIAL", "LATENCY"},
				row: func(v domain.Call) []string {
					return []string{when(v.Time, now), clean(v.RequestID), clean(v.Method), clean(v.Path), strconv.Itoa(v.Status),
						or(v.Code, "–"), or(v.ConsumerID, "–"), or(v.CredentialID, "–"), micros(v.LatencyMicros)}
				},
			}, q, lf)
		}),
	}
	f := c.Flags()
	f.StringVar(&since, "since", "", "only calls after this: a duration back from now (1h, 7d) or an RFC 3339 time")
	f.StringVar(&until, "until", "", "only calls before this: a duration back from now or an RFC 3339 time")
	f.StringVar(&consumer, "consumer", "", "only this consumer's calls (id, name, or tenant-slug/name)")
	f.StringVar(&tenant, "tenant", "", "only this tenant's calls (id or slug)")
	f.StringVar(&route, "route", "", "only this route's calls")
	f.IntVar(&status, "status", 0, "only calls answered with this HTTP status")
	f.StringVar(&rsn, "reason", "", "only calls with this reason code, e.g. key.revoked")
	lf.add(c)
	return c
}

func (a *app) explainCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "explain <request-id>",
		Short: "Show a call's full record and decision trace",
		Long: "Show one call's record and its decision trace as a numbered list: each stage's check with\n" +
			"✓ (pass), ✗ (fail) or – (skipped) and its detail, then what the caller was told against what\n" +
			"only the operator sees. The request ID is in every rejection's body and X-Request-Id header.",
		Example: "  gatehouse explain 01JD3V8X2K9P4QW7M5N6R3T1YZ",
		RunE: a.run(spec{args: []string{"<request-id>"}}, func(ctx context.Context, c *client, args []string) error {
			return object(ctx, a, c, http.MethodGet, "/calls/"+pathEscape(args[0]), nil, func(v domain.Call) error {
				RenderTrace(a.io.Out, v)
				return nil
			})
		}),
	}
}

func (a *app) auditCmd() *cobra.Command {
	var lf listFlags
	var tenant, action, resource, resourceID, actor string
	c := &cobra.Command{
		Use:   "audit [--tenant T] [--action key.revoke|key.] [--resource R] [--resource-id ID] [--actor A]",
		Short: "List the audit log of admin changes, newest first (secrets masked)",
		Long: "List every change made through the admin API: who, what, on which object and when.\n" +
			"Before/after values (secrets masked) are in -o json.",
		RunE: a.run(spec{}, func(ctx context.Context, c *client, _ []string) error {
			q := url.Values{}
			for k, v := range map[string]string{"tenant": tenant, "action": action, "resource": resource, "resource_id": resourceID, "actor": actor} {
				if v != "" {
					q.Set(k, v)
				}
			}
			now := a.io.Now()
			return list(ctx, a, c, listing[domain.AuditEntry]{
				path: "/audit", plural: "audit entries",
				header: []string{"AT", "ACTOR", "ACTION", "RESOURCE", "ID"},
				row: func(e domain.AuditEntry) []string {
					return []string{when(e.At, now), clean(e.Actor), clean(e.Action), clean(e.Resource), clean(e.ResourceID)}
				},
			}, q, lf)
		}),
	}
	c.Flags().StringVar(&tenant, "tenant", "", "only changes to this tenant's objects")
	c.Flags().StringVar(&action, "action", "", "only this action (key.revoke), or a prefix ending in '.' (key.)")
	c.Flags().StringVar(&resource, "resource", "", "only this resource type: tenant, consumer, key, service, route, admin")
	c.Flags().StringVar(&resourceID, "resource-id", "", "only changes to the object with this id")
	c.Flags().StringVar(&actor, "actor", "", "only changes by this admin (id or name)")
	lf.add(c)
	return c
}
