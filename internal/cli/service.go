package cli

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"gatehouse/internal/domain"
)

func (a *app) serviceCmd() *cobra.Command {
	var tenant, name, visibility string
	var targets []string
	var approval bool
	create := &cobra.Command{
		Use:     "create --tenant T --name N --target URL… [--visibility private|published] [--approval-required]",
		Short:   "Create a service (an upstream API published by a tenant)",
		Example: "  gatehouse service create --tenant acme --name orders --target http://10.0.0.5:8000 --target http://10.0.0.6:8000",
		RunE: a.run(spec{required: []string{"tenant", "name", "target"}}, func(ctx context.Context, c *client, _ []string) error {
			for _, t := range targets {
				u, err := url.Parse(t)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					return fmt.Errorf("--target %q is not an http(s) URL such as http://10.0.0.5:8000", t)
				}
			}
			if visibility != domain.VisibilityPrivate && visibility != domain.VisibilityPublished {
				return fmt.Errorf("--visibility %q: use private or published", visibility)
			}
			body := map[string]any{"tenant": tenant, "name": name, "targets": targets, "visibility": visibility, "approval_required": approval}
			return object(ctx, a, c, http.MethodPost, "/services", body, func(s domain.Service) error {
				fmt.Fprintf(a.io.Out, "Created service %s. Expose it with: gatehouse route create --service %s --path /…\n", clean(s.Name), clean(s.ID))
				return a.showService(s)
			})
		}),
	}
	create.Flags().StringVar(&tenant, "tenant", "", "owning tenant id or slug (required)")
	create.Flags().StringVar(&name, "name", "", "name, unique within the tenant (required)")
	create.Flags().StringArrayVar(&targets, "target", nil, "upstream base URL; repeat for round-robin targets (required)")
	create.Flags().StringVar(&visibility, "visibility", domain.VisibilityPrivate, "private (own tenant only) or published (other tenants may subscribe)")
	create.Flags().BoolVar(&approval, "approval-required", false, "other tenants' consumers need an approved subscription")

	var lf listFlags
	var byTenant, byName string
	ls := &cobra.Command{
		Use:   "list [--tenant T] [--name N]",
		Short: "List services",
		RunE: a.run(spec{}, func(ctx context.Context, c *client, _ []string) error {
			q := url.Values{}
			if byTenant != "" {
				q.Set("tenant", byTenant)
			}
			if byName != "" {
				q.Set("name", byName)
			}
			return list(ctx, a, c, listing[domain.Service]{
				path: "/services", plural: "services",
				header: []string{"ID", "TENANT", "NAME", "TARGETS", "VISIBILITY", "APPROVAL", "CREATED"},
				row: func(s domain.Service) []string {
					return []string{clean(s.ID), clean(s.TenantID), clean(s.Name), targetList(s.Targets), clean(s.Visibility),
						yesNo(s.ApprovalRequired, "required", "–"), when(s.CreatedAt, a.io.Now())}
				},
			}, q, lf)
		}),
	}
	ls.Flags().StringVar(&byTenant, "tenant", "", "only this tenant's services (id or slug)")
	ls.Flags().StringVar(&byName, "name", "", "only services with exactly this name")
	lf.add(ls)

	get := &cobra.Command{
		Use:   "get <id|name>",
		Short: "Show one service",
		RunE: a.run(spec{args: []string{"<id|name>"}}, func(ctx context.Context, c *client, args []string) error {
			return object(ctx, a, c, http.MethodGet, "/services/"+pathEscape(args[0]), nil, a.showService)
		}),
	}
	del := &cobra.Command{
		Use:   "delete <id>",
		Short: "Delete a service",
		RunE: a.run(spec{args: []string{"<id>"}}, func(ctx context.Context, c *client, args []string) error {
			return remove(ctx, a, c, "/services/"+pathEscape(args[0]), fmt.Sprintf("Service %s deleted.", clean(args[0])))
		}),
	}
	return a.group("service", "Manage services",
		"Services are the upstream APIs a tenant publishes through the gateway; routes map requests to them.",
		create, ls, get, del)
}

func (a *app) showService(s domain.Service) error {
	now := a.io.Now()
	kv := []string{
		"ID", clean(s.ID),
		"Tenant", clean(s.TenantID),
		"Name", clean(s.Name),
		"Targets", targetList(s.Targets),
		"Visibility", clean(s.Visibility),
		"Approval", yesNo(s.ApprovalRequired, "required", "not required"),
	}
	if s.Version != "" {
		kv = append(kv, "Version", clean(s.Version))
	}
	if s.Declared {
		kv = append(kv, "Declared", "yes: in gatehouse.yaml, read-only here")
	}
	kv = append(kv, "Created", when(s.CreatedAt, now))
	return fields(a.io.Out, kv...)
}

func targetList(ts []domain.Target) string {
	if len(ts) == 0 {
		return "–"
	}
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = clean(t.URL)
		if t.Weight > 1 {
			out[i] += " (weight " + strconv.Itoa(t.Weight) + ")"
		}
	}
	return strings.Join(out, ", ")
}

func yesNo(b bool, yes, no string) string {
	if b {
		return yes
	}
	return no
}
