package cli

import (
	"context"
	"fmt"
	"net/http"

	"github.com/spf13/cobra"

	"gatehouse/internal/domain"
)

func (a *app) tenantCmd() *cobra.Command {
	var slug, name string
	create := &cobra.Command{
		Use:     "create --slug SLUG [--name NAME]",
		Short:   "Create a tenant (an isolated team or workspace)",
		Example: "  gatehouse tenant create --slug acme --name 'Acme Corp'",
		RunE: a.run(spec{required: []string{"slug"}}, func(ctx context.Context, c *client, _ []string) error {
			body := map[string]any{"slug": slug}
			if name != "" {
				body["name"] = name
			}
			return object(ctx, a, c, http.MethodPost, "/tenants", body, func(t domain.Tenant) error {
				fmt.Fprintf(a.io.Out, "Created tenant %s.\n", clean(t.Slug))
				return a.showTenant(t)
			})
		}),
	}
	create.Flags().StringVar(&slug, "slug", "", "short unique identifier, e.g. acme (required)")
	create.Flags().StringVar(&name, "name", "", "display name (default: the slug)")

	var lf listFlags
	ls := &cobra.Command{
		Use:   "list",
		Short: "List tenants",
		RunE: a.run(spec{}, func(ctx context.Context, c *client, _ []string) error {
			return list(ctx, a, c, listing[domain.Tenant]{
				path: "/tenants", plural: "tenants",
				header: []string{"ID", "SLUG", "NAME", "STATUS", "CREATED"},
				row: func(t domain.Tenant) []string {
					return []string{clean(t.ID), clean(t.Slug), clean(t.Name), clean(t.Status), when(t.CreatedAt, a.io.Now())}
				},
			}, nil, lf)
		}),
	}
	lf.add(ls)

	get := &cobra.Command{
		Use:   "get <id|slug>",
		Short: "Show one tenant",
		RunE: a.run(spec{args: []string{"<id|slug>"}}, func(ctx context.Context, c *client, args []string) error {
			return object(ctx, a, c, http.MethodGet, "/tenants/"+pathEscape(args[0]), nil, a.showTenant)
		}),
	}
	state := func(verb, past, effect string) *cobra.Command {
		return &cobra.Command{
			Use:   verb + " <id|slug>",
			Short: fmt.Sprintf("%s a tenant: %s", capital(verb), effect),
			RunE: a.run(spec{args: []string{"<id|slug>"}}, func(ctx context.Context, c *client, args []string) error {
				return object(ctx, a, c, http.MethodPost, "/tenants/"+pathEscape(args[0])+"/"+verb, nil, func(t domain.Tenant) error {
					fmt.Fprintf(a.io.Out, "Tenant %s %s: %s.\n", clean(t.Slug), past, effect)
					return a.showTenant(t)
				})
			}),
		}
	}
	return a.group("tenant", "Manage tenants",
		"Tenants are isolated teams or workspaces. Suspending one stops every key of every consumer under it at once.",
		create, ls, get,
		state("suspend", "suspended", "every key of its consumers now answers tenant.suspended"),
		state("resume", "resumed", "its consumers' keys work again"),
	)
}

func (a *app) showTenant(t domain.Tenant) error {
	return fields(a.io.Out,
		"ID", clean(t.ID),
		"Slug", clean(t.Slug),
		"Name", clean(t.Name),
		"Status", clean(t.Status),
		"Suspended", whenPtr(t.SuspendedAt, a.io.Now(), "–"),
		"Created", when(t.CreatedAt, a.io.Now()),
		"Updated", when(t.UpdatedAt, a.io.Now()),
	)
}

// capital upper-cases an ASCII verb's first letter for help text.
func capital(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
