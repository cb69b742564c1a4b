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

func (a *app) alertCmd() *cobra.Command {
	var lf listFlags
	var since, rule, tenant string
	ls := &cobra.Command{
		Use:   "list [--since 24h] [--rule ID] [--tenant T]",
		Short: "List fired alerts, newest first",
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
			if rule != "" {
				q.Set("rule", rule)
			}
			if tenant != "" {
				q.Set("tenant", tenant)
			}
			return list(ctx, a, c, listing[domain.Alert]{
				path: "/alerts", plural: "alerts",
				header: []string{"FIRED", "RULE", "KIND", "SUBJECT", "MESSAGE"},
				row: func(v domain.Alert) []string {
					return []string{when(v.FiredAt, now), clean(v.RuleName), clean(v.Kind), clean(v.Subject), clean(v.Message)}
				},
			}, q, lf)
		}),
	}
	ls.Flags().StringVar(&since, "since", "", "only alerts fired after this: a duration back from now (1h, 7d) or an RFC 3339 time")
	ls.Flags().StringVar(&rule, "rule", "", "only this rule's alerts (rule id)")
	ls.Flags().StringVar(&tenant, "tenant", "", "only this tenant's alerts (id or slug)")
	lf.add(ls)

	var rlf listFlags
	var rtenant string
	rules := &cobra.Command{
		Use:   "rules [--tenant T]",
		Short: "List alert rules",
		RunE: a.run(spec{}, func(ctx context.Context, c *client, _ []string) error {
			q := url.Values{}
			if rtenant != "" {
				q.Set("tenant", rtenant)
			}
			return list(ctx, a, c, listing[domain.AlertRule]{
				path: "/alerts/rules", plural: "alert rules",
				header: []string{"ID", "NAME", "KIND", "WHEN", "COOLDOWN", "TENANT"},
				row: func(r domain.AlertRule) []string {
					return []string{clean(r.ID), clean(r.Name), clean(r.Kind), describeRule(r), r.Cooldown.D().String(), or(r.TenantID, "(gateway)")}
				},
			}, q, rlf)
		}),
	}
	rules.Flags().StringVar(&rtenant, "tenant", "", "only this tenant's rules (id or slug)")
	rlf.add(rules)

	var req struct {
		name, tenant, kind, reason, by, consumer, route, window, within, cooldown string
		threshold                                                                 int64
	}
	create := &cobra.Command{
		Use:   "create --name N --kind threshold|key_expiring|rotated_key_used|new_ip [flags]",
		Short: "Create an alert rule (delivered as signed webhooks to the gateway's webhook URLs)",
		Long: "Create an alert rule. Kinds:\n" +
			"  threshold         more than --threshold calls with --reason within --window, per --by\n" +
			"  key_expiring      a live key or credential expires within --within (default 7d)\n" +
			"  rotated_key_used  a rotated key is still used during its grace period\n" +
			"  new_ip            a credential is used from an address it was not seen from before\n" +
			"Each rule fires at most once per subject per --cooldown (default 10m; 24h for key_expiring).",
		Example: "  gatehouse alert create --name 'jwt storm' --kind threshold --reason jwt.expired --threshold 10 --window 1m\n" +
			"  gatehouse alert create --name 'expiring keys' --kind key_expiring --within 7d --tenant acme",
		RunE: a.run(spec{required: []string{"name", "kind"}}, func(ctx context.Context, c *client, _ []string) error {
			body := map[string]any{"name": req.name, "kind": req.kind}
			for k, v := range map[string]string{"tenant": req.tenant, "reason": req.reason, "by": req.by, "consumer": req.consumer,
				"route": req.route} {
				if v != "" {
					body[k] = v
				}
			}
			// Durations may be given in days (7d), which the API's Go
			// syntax does not read.
			for _, d := range []struct{ name, v string }{{"window", req.window}, {"within", req.within}, {"cooldown", req.cooldown}} {
				if d.v == "" {
					continue
				}
				v, err := parseDuration(d.v)
				if err != nil {
					return fmt.Errorf("--%s: %w", d.name, err)
				}
				body[d.name] = v.String()
			}
			if req.threshold != 0 {
				body["threshold"] = req.threshold
			}
			return object(ctx, a, c, http.MethodPost, "/alerts/rules", body, func(r domain.AlertRule) error {
				fmt.Fprintf(a.io.Out, "Created alert rule %s (%s).\n", clean(r.Name), clean(r.ID))
				return fields(a.io.Out, "Kind", clean(r.Kind), "When", describeRule(r), "Cooldown", r.Cooldown.D().String(),
					"Tenant", or(r.TenantID, "(the whole gateway)"))
			})
		}),
	}
	f := create.Flags()
	f.StringVar(&req.name, "name", "", "a short label (required)")
	f.StringVar(&req.kind, "kind", "", "threshold, key_expiring, rotated_key_used or new_ip (required)")
	f.StringVar(&req.tenant, "tenant", "", "watch only this tenant (id or slug); default the whole gateway")
	f.StringVar(&req.reason, "reason", "", "threshold: a reason code (jwt.expired), a family (jwt.), or empty for every rejection")
	f.StringVar(&req.by, "by", "", "threshold: count per consumer (default), tenant, route or credential")
	f.Int64Var(&req.threshold, "threshold", 0, "threshold: fire when the count within the window exceeds this")
	f.StringVar(&req.window, "window", "", "threshold: the window, e.g. 1m (default)")
	f.StringVar(&req.consumer, "consumer", "", "watch only this consumer (id, name, or tenant-slug/name)")
	f.StringVar(&req.route, "route", "", "watch only this route (route id)")
	f.StringVar(&req.within, "within", "", "key_expiring: the horizon, e.g. 7d (default)")
	f.StringVar(&req.cooldown, "cooldown", "", "least time between two alerts for one subject, e.g. 10m")

	del := &cobra.Command{
		Use:   "delete <rule-id>",
		Short: "Delete an alert rule (its fired alerts stay listed)",
		RunE: a.run(spec{args: []string{"<rule-id>"}}, func(ctx context.Context, c *client, args []string) error {
			return remove(ctx, a, c, "/alerts/rules/"+pathEscape(args[0]), "Alert rule "+clean(args[0])+" deleted.")
		}),
	}
	return a.group("alert", "List fired alerts and manage alert rules",
		"Alerts watch the call stream and the credentials: bursts of a rejection reason, keys about to\n"+
			"expire, rotated keys still in use, credentials used from new addresses. They are posted to the\n"+
			"gateway's webhook URLs (signed) and listed here.",
		ls, rules, create, del)
}

// describeRule says when a rule fires, in one line.
func describeRule(r domain.AlertRule) string {
	narrow := ""
	if r.ConsumerID != "" {
		narrow += " of consumer " + clean(r.ConsumerID)
	}
	if r.RouteID != "" {
		narrow += " on route " + clean(r.RouteID)
	}
	switch r.Kind {
	case domain.AlertThreshold:
		what := r.Reason
		if what == "" {
			what = "rejected"
		} else {
			what = clean(what)
		}
		return "more than " + strconv.FormatInt(r.Threshold, 10) + " " + what + " per " + r.Window.D().String() +
			" for one " + clean(r.By) + narrow
	case domain.AlertKeyExpiring:
		return "a key or credential" + narrow + " expires within " + r.Within.D().String()
	case domain.AlertRotatedKeyUsed:
		return "a rotated key" + narrow + " is used during its grace period"
	case domain.AlertNewIP:
		return "a credential" + narrow + " is used from a new address"
	}
	return clean(r.Kind)
}
