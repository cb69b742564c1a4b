package cli

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/spf13/cobra"

	"gatehouse/internal/domain"
)

func (a *app) consumerCmd() *cobra.Command {
	var tenant, name string
	var scopes, ipAllow []string
	create := &cobra.Command{
		Use:     "create --tenant T --name N [--scopes a,b] [--ip-allow CIDR,…]",
		Short:   "Create a consumer (an application or user that calls APIs)",
		Example: "  gatehouse consumer create --tenant acme --name shop-mobile --scopes orders:read,orders:write",
		RunE: a.run(spec{required: []string{"tenant", "name"}}, func(ctx context.Context, c *client, _ []string) error {
			body := map[string]any{"tenant": tenant, "name": name, "scopes": nonNil(scopes), "ip_allow": nonNil(ipAllow)}
			return object(ctx, a, c, http.MethodPost, "/consumers", body, func(v domain.Consumer) error {
				fmt.Fprintf(a.io.Out, "Created consumer %s. Give it a key with: gatehouse key create --consumer %s\n", clean(v.Name), clean(v.ID))
				return a.showConsumer(v)
			})
		}),
	}
	create.Flags().StringVar(&tenant, "tenant", "", "tenant id or slug (required)")
	create.Flags().StringVar(&name, "name", "", "name, unique within the tenant (required)")
	create.Flags().StringSliceVar(&scopes, "scopes", nil, "scopes granted to the consumer, comma-separated")
	create.Flags().StringSliceVar(&ipAllow, "ip-allow", nil, "client IPs or CIDRs allowed to call, comma-separated (default: any)")

	var lf listFlags
	var byTenant, byName string
	ls := &cobra.Command{
		Use:   "list [--tenant T] [--name N]",
		Short: "List consumers",
		RunE: a.run(spec{}, func(ctx context.Context, c *client, _ []string) error {
			q := url.Values{}
			if byTenant != "" {
				q.Set("tenant", byTenant)
			}
			if byName != "" {
				q.Set("name", byName)
			}
			return list(ctx, a, c, listing[domain.Consumer]{
				path: "/consumers", plural: "consumers",
				header: []string{"ID", "TENANT", "NAME", "STATUS", "SCOPES", "CREATED"},
				row: func(v domain.Consumer) []string {
					return []string{clean(v.ID), clean(v.TenantID), clean(v.Name), clean(v.Status), csv(v.Scopes), when(v.CreatedAt, a.io.Now())}
				},
			}, q, lf)
		}),
	}
	ls.Flags().StringVar(&byTenant, "tenant", "", "only this tenant's consumers (id or slug)")
	ls.Flags().StringVar(&byName, "name", "", "only consumers with exactly this name")
	lf.add(ls)

	get := &cobra.Command{
		Use:   "get <id|name|tenant-slug/name>",
		Short: "Show one consumer",
		RunE: a.run(spec{args: []string{"<id|name|tenant-slug/name>"}}, func(ctx context.Context, c *client, args []string) error {
			return object(ctx, a, c, http.MethodGet, "/consumers/"+pathEscape(args[0]), nil, a.showConsumer)
		}),
	}
	state := func(verb, past, effect string) *cobra.Command {
		return &cobra.Command{
			Use:   verb + " <id>",
			Short: fmt.Sprintf("%s a consumer: %s", capital(verb), effect),
			RunE: a.run(spec{args: []string{"<id>"}}, func(ctx context.Context, c *client, args []string) error {
				return object(ctx, a, c, http.MethodPost, "/consumers/"+pathEscape(args[0])+"/"+verb, nil, func(v domain.Consumer) error {
					fmt.Fprintf(a.io.Out, "Consumer %s %s: %s.\n", clean(v.Name), past, effect)
					return a.showConsumer(v)
				})
			}),
		}
	}
	del := &cobra.Command{
		Use:   "delete <id>",
		Short: "Delete a consumer: its keys stop working at once and answer consumer.deleted",
		RunE: a.run(spec{args: []string{"<id>"}}, func(ctx context.Context, c *client, args []string) error {
			return remove(ctx, a, c, "/consumers/"+pathEscape(args[0]),
				fmt.Sprintf("Consumer %s deleted: its keys are revoked and answer consumer.deleted.", clean(args[0])))
		}),
	}
	return a.group("consumer", "Manage consumers",
		"Consumers are the applications or users that call APIs; each belongs to one tenant and holds keys.",
		create, ls, get,
		state("suspend", "suspended", "its keys now answer consumer.suspended"),
		state("resume", "resumed", "its keys work again"),
		del,
	)
}

func (a *app) showConsumer(v domain.Consumer) error {
	now := a.io.Now()
	return fields(a.io.Out,
		"ID", clean(v.ID),
		"Tenant", clean(v.TenantID),
		"Name", clean(v.Name),
		"Status", clean(v.Status),
		"Scopes", csv(v.Scopes),
		"IP allow", or(csvOrEmpty(v.IPAllow), "any"),
		"Suspended", whenPtr(v.SuspendedAt, now, "–"),
		"Deleted", whenPtr(v.DeletedAt, now, "–"),
		"Created", when(v.CreatedAt, now),
	)
}

// nonNil sends [] rather than null for an unset list flag.
func nonNil(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

// csvOrEmpty is csv with "" for an empty list.
func csvOrEmpty(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return csv(v)
}
