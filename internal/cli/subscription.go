package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"gatehouse/internal/domain"
)

// subscriptionItem is a subscription as the admin API answers it: the
// stored object, plus on answers to changes a message saying what
// happened, and for a pending one who can approve it.
type subscriptionItem struct {
	domain.Subscription
	Message   string   `json:"message"`
	Approvers []string `json:"approvers"`
}

// planFlags are the plan flags of request and approve.
type planFlags struct {
	name, limit, by string
}

func (p *planFlags) add(c *cobra.Command, what string) {
	c.Flags().StringVar(&p.name, "plan", "", "plan name "+what)
	c.Flags().StringVar(&p.limit, "rate-limit", "", "plan rate limit as CALLS/PERIOD, e.g. 100/1m or 5000/1d")
	c.Flags().StringVar(&p.by, "rate-limit-by", "", "what the plan's limit counts: consumer (default), credential or route")
}

// body returns the API's plan object, or nil when no plan flag was given.
func (p *planFlags) body() (map[string]any, error) {
	if p.name == "" && p.limit == "" && p.by == "" {
		return nil, nil
	}
	plan := map[string]any{}
	if p.name != "" {
		plan["name"] = p.name
	}
	if p.by != "" && p.limit == "" {
		return nil, errors.New("--rate-limit-by needs --rate-limit CALLS/PERIOD")
	}
	if p.limit != "" {
		n, period, ok := strings.Cut(p.limit, "/")
		calls, err := strconv.Atoi(strings.TrimSpace(n))
		if !ok || err != nil || calls < 1 {
			return nil, fmt.Errorf("--rate-limit %q: write CALLS/PERIOD with CALLS a whole number from 1, e.g. 100/1m", p.limit)
		}
		d, err := parseDuration(period)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("--rate-limit %q: the period after / must be a positive duration such as 1m, 1h or 1d", p.limit)
		}
		rl := map[string]any{"limit": calls, "period": d.String()}
		if p.by != "" {
			switch p.by {
			case domain.LimitByConsumer, domain.LimitByCredential, domain.LimitByRoute:
			default:
				return nil, fmt.Errorf("--rate-limit-by %q: use consumer, credential or route", p.by)
			}
			rl["by"] = p.by
		}
		plan["rate_limit"] = rl
	}
	return plan, nil
}

func (a *app) subscriptionCmd() *cobra.Command {
	var consumer, service, reqNote string
	var reqPlan planFlags
	request := &cobra.Command{
		Use:   "request --consumer C --service S [--note N] [--plan P] [--rate-limit 100/1m]",
		Short: "Ask for a consumer's access to a service (approved at once for its own tenant's service without approval, else pending)",
		Long: "Request a consumer's access to a service. A service of the consumer's own tenant that needs no\n" +
			"approval is approved at once; one that needs approval, and any published service of another\n" +
			"tenant, waits for an approver: a gateway admin or a tenant-admin of the service's tenant.\n" +
			"Another tenant's private service cannot be subscribed to.",
		Example: "  gatehouse subscription request --consumer acme/shop-mobile --service orders --note 'checkout needs it'",
		RunE: a.run(spec{required: []string{"consumer", "service"}}, func(ctx context.Context, c *client, _ []string) error {
			body := map[string]any{"consumer": consumer, "service": service}
			if reqNote != "" {
				body["note"] = reqNote
			}
			plan, err := reqPlan.body()
			if err != nil {
				return err
			}
			if plan != nil {
				body["plan"] = plan
			}
			return object(ctx, a, c, http.MethodPost, "/subscriptions", body, a.showSubscriptionChange)
		}),
	}
	request.Flags().StringVar(&consumer, "consumer", "", "consumer id, name, or tenant-slug/name (required)")
	request.Flags().StringVar(&service, "service", "", "service id or name (required)")
	request.Flags().StringVar(&reqNote, "note", "", "why the consumer needs access, for the approvers")
	reqPlan.add(request, "asked for (the approver may set another)")

	var approveNote string
	var approvePlan planFlags
	approve := &cobra.Command{
		Use:     "approve <id> [--note N] [--plan P] [--rate-limit 100/1m]",
		Short:   "Approve a pending subscription (gateway admins and the service tenant's tenant-admins)",
		Example: "  gatehouse subscription approve sub_3kTMd92VbQx0aZpL --note 'welcome' --plan gold --rate-limit 1000/1m",
		RunE: a.run(spec{args: []string{"<id>"}}, func(ctx context.Context, c *client, args []string) error {
			body := map[string]any{}
			if approveNote != "" {
				body["note"] = approveNote
			}
			plan, err := approvePlan.body()
			if err != nil {
				return err
			}
			if plan != nil {
				body["plan"] = plan
			}
			return object(ctx, a, c, http.MethodPost, "/subscriptions/"+pathEscape(args[0])+"/approve", body, a.showSubscriptionChange)
		}),
	}
	approve.Flags().StringVar(&approveNote, "note", "", "a note for the requester")
	approvePlan.add(approve, "granted (replaces the one requested)")

	var rejectNote string
	reject := &cobra.Command{
		Use:     "reject <id> --note N",
		Short:   "Reject a pending subscription; its calls answer subscription.rejected with the note",
		Example: "  gatehouse subscription reject sub_3kTMd92VbQx0aZpL --note 'use the public API instead'",
		RunE: a.run(spec{args: []string{"<id>"}, required: []string{"note"}}, func(ctx context.Context, c *client, args []string) error {
			if strings.TrimSpace(rejectNote) == "" {
				return errors.New("--note must not be empty: it tells the requester why")
			}
			return object(ctx, a, c, http.MethodPost, "/subscriptions/"+pathEscape(args[0])+"/reject", map[string]string{"note": rejectNote}, a.showSubscriptionChange)
		}),
	}
	reject.Flags().StringVar(&rejectNote, "note", "", "why (required); the consumer's callers are told it")

	var revokeNote string
	revoke := &cobra.Command{
		Use:   "revoke <id> [--note N]",
		Short: "Revoke an approved subscription; its calls answer subscription.revoked from the next request",
		RunE: a.run(spec{args: []string{"<id>"}}, func(ctx context.Context, c *client, args []string) error {
			body := map[string]string{}
			if revokeNote != "" {
				body["note"] = revokeNote
			}
			return object(ctx, a, c, http.MethodPost, "/subscriptions/"+pathEscape(args[0])+"/revoke", body, a.showSubscriptionChange)
		}),
	}
	revoke.Flags().StringVar(&revokeNote, "note", "", "why; the consumer's callers are told it")

	var lf listFlags
	var byState, byService, byConsumer, byTenant string
	ls := &cobra.Command{
		Use:     "list [--state pending] [--service S] [--consumer C] [--tenant T]",
		Short:   "List subscriptions",
		Example: "  gatehouse subscription list --state pending --service orders",
		RunE: a.run(spec{}, func(ctx context.Context, c *client, _ []string) error {
			q := url.Values{}
			for k, v := range map[string]string{"state": byState, "service": byService, "consumer": byConsumer, "tenant": byTenant} {
				if v != "" {
					q.Set(k, v)
				}
			}
			now := a.io.Now()
			return list(ctx, a, c, listing[subscriptionItem]{
				path: "/subscriptions", plural: "subscriptions",
				header: []string{"ID", "CONSUMER", "SERVICE", "STATE", "PLAN", "REQUESTED", "DECIDED BY"},
				row: func(s subscriptionItem) []string {
					return []string{clean(s.ID), clean(s.ConsumerID), clean(s.ServiceID), clean(s.State), planText(s.Plan),
						when(s.RequestedAt, now), or(closedBy(s.Subscription), "–")}
				},
			}, q, lf)
		}),
	}
	ls.Flags().StringVar(&byState, "state", "", "only this state: pending, approved, rejected or revoked")
	ls.Flags().StringVar(&byService, "service", "", "only subscriptions to this service (id or name)")
	ls.Flags().StringVar(&byConsumer, "consumer", "", "only this consumer's (id, name, or tenant-slug/name)")
	ls.Flags().StringVar(&byTenant, "tenant", "", "only those where the consumer or the service belongs to this tenant")
	lf.add(ls)

	get := &cobra.Command{
		Use:   "get <id>",
		Short: "Show one subscription (a pending one names who can approve it)",
		RunE: a.run(spec{args: []string{"<id>"}}, func(ctx context.Context, c *client, args []string) error {
			return object(ctx, a, c, http.MethodGet, "/subscriptions/"+pathEscape(args[0]), nil, a.showSubscription)
		}),
	}
	return a.group("subscription", "Request, approve, reject, revoke and list subscriptions",
		"A subscription is a consumer's right to call a service: pending until an approver decides, then approved or\n"+
			"rejected; an approved one can be revoked. Consumers reach their own tenant's services that need no approval\n"+
			"without one; everything else needs an approved subscription.",
		request, approve, reject, revoke, ls, get)
}

// showSubscriptionChange prints the API's message first, then the object.
func (a *app) showSubscriptionChange(s subscriptionItem) error {
	if s.Message != "" {
		fmt.Fprintf(a.io.Out, "Subscription %s: %s\n", clean(s.ID), clean(s.Message))
	}
	return a.showSubscription(s)
}

func (a *app) showSubscription(s subscriptionItem) error {
	now := a.io.Now()
	kv := []string{
		"ID", clean(s.ID),
		"State", clean(s.State),
		"Consumer", clean(s.ConsumerID) + " (tenant " + clean(s.ConsumerTenantID) + ")",
		"Service", clean(s.ServiceID) + " (tenant " + clean(s.ServiceTenantID) + ")",
		"Plan", planText(s.Plan),
		"Requested", when(s.RequestedAt, now) + " by " + clean(s.RequestedBy),
	}
	if s.RequestNote != "" {
		kv = append(kv, "Request note", clean(s.RequestNote))
	}
	if s.State == domain.SubscriptionPending && len(s.Approvers) > 0 {
		kv = append(kv, "Approvers", csv(s.Approvers))
	}
	if s.DecidedAt != nil {
		kv = append(kv, "Decided", when(*s.DecidedAt, now)+" by "+clean(s.DecidedBy))
		if s.DecisionNote != "" {
			kv = append(kv, "Decision note", clean(s.DecisionNote))
		}
	}
	if s.RevokedAt != nil {
		kv = append(kv, "Revoked", when(*s.RevokedAt, now)+" by "+clean(s.RevokedBy))
		if s.RevokeNote != "" {
			kv = append(kv, "Revoke note", clean(s.RevokeNote))
		}
	}
	return fields(a.io.Out, kv...)
}

// planText renders a plan for a table cell.
func planText(p *domain.Plan) string {
	if p == nil {
		return "–"
	}
	out := or(p.Name, "(unnamed)")
	if rl := p.RateLimit; rl != nil {
		out += fmt.Sprintf(" %d/%s per %s", rl.Limit, rl.Period.D(), or(rl.By, domain.LimitByConsumer))
	}
	return out
}

// closedBy names who decided or revoked s last.
func closedBy(s domain.Subscription) string {
	if s.RevokedBy != "" {
		return s.RevokedBy
	}
	return s.DecidedBy
}
