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
	var cij identityFlags
	create := &cobra.Command{
		Use:   "create --tenant T --name N --target URL… [--visibility private|published] [--approval-required] [--identity-jwt]",
		Short: "Create a service (an upstream API published by a tenant)",
		Example: "  gatehouse service create --tenant acme --name orders --target http://10.0.0.5:8000 --target http://10.0.0.6:8000\n" +
			"  gatehouse service create --tenant acme --name orders --target http://10.0.0.5:8000 --identity-jwt --identity-jwt-audience orders-api",
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
			ij, _, err := cij.body()
			if err != nil {
				return err
			}
			if ij != nil {
				body["identity_jwt"] = ij
			}
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
	cij.add(create, false)

	var uij identityFlags
	var lifecycle, sunset, successor string
	update := &cobra.Command{
		Use: "update <id|name> [--lifecycle draft|active|deprecated|retired] [--sunset RFC3339] [--successor S] " +
			"[--identity-jwt[=false]] [--identity-jwt-audience A] [--identity-jwt-ttl 60s] [--no-identity-jwt]",
		Short: "Change a service's lifecycle or identity token (X-Gatehouse-Identity); other fields through the admin API (PATCH)",
		Example: "  gatehouse service update orders --lifecycle deprecated --sunset 2027-06-30T00:00:00Z --successor orders-v2\n" +
			"  gatehouse service update orders --lifecycle retired\n" +
			"  gatehouse service update orders --identity-jwt --identity-jwt-audience orders-api --identity-jwt-ttl 2m\n" +
			"  gatehouse service update orders --identity-jwt=false   # keep the settings, send no token",
		RunE: a.run(spec{args: []string{"<id|name>"}}, func(ctx context.Context, c *client, args []string) error {
			ij, set, err := uij.body()
			if err != nil {
				return err
			}
			body := map[string]any{}
			if set {
				body["identity_jwt"] = ij // nil: null, which removes it
			}
			for k, v := range map[string]string{"lifecycle": lifecycle, "sunset": sunset, "successor": successor} {
				if v != "" {
					body[k] = v
				}
			}
			if len(body) == 0 {
				return &usageError{"nothing to change: give --lifecycle, --sunset, --successor, --identity-jwt, --identity-jwt-audience, --identity-jwt-ttl or --no-identity-jwt"}
			}
			return object(ctx, a, c, http.MethodPatch, "/services/"+pathEscape(args[0]), body, func(s domain.Service) error {
				fmt.Fprintf(a.io.Out, "Updated service %s.\n", clean(s.Name))
				return a.showService(s)
			})
		}),
	}
	uij.add(update, true)
	update.Flags().StringVar(&lifecycle, "lifecycle", "", "draft (its tenant's test keys only), active, deprecated (needs --sunset) or retired (answers service.retired)")
	update.Flags().StringVar(&sunset, "sunset", "", "when a deprecated service stops, RFC 3339 (sent in the Sunset header)")
	update.Flags().StringVar(&successor, "successor", "", "the service (id or name) that replaces this one, named to its callers")

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
		create, ls, get, update, del)
}

// identityFlags are the --identity-jwt* flags of service create and update.
type identityFlags struct {
	enabled, remove bool
	audience, ttl   string
	cmd             *cobra.Command
}

func (f *identityFlags) add(c *cobra.Command, update bool) {
	f.cmd = c
	fl := c.Flags()
	fl.BoolVar(&f.enabled, "identity-jwt", false, "send X-Gatehouse-Identity, a short-lived JWT signed by the gateway, to the service (=false: keep the settings, send none)")
	fl.StringVar(&f.audience, "identity-jwt-audience", "", "the token's aud (default: the service's name); implies --identity-jwt")
	fl.StringVar(&f.ttl, "identity-jwt-ttl", "", "the token's lifetime, 10s to 1h (default 60s); implies --identity-jwt")
	if update {
		fl.BoolVar(&f.remove, "no-identity-jwt", false, "remove the identity token settings")
	}
}

// body is the service's "identity_jwt" member and whether any flag asked
// for one; a nil member with set true removes it (update only).
func (f *identityFlags) body() (map[string]any, bool, error) {
	fl := f.cmd.Flags()
	changed := func(n string) bool { return fl.Lookup(n) != nil && fl.Changed(n) }
	given := changed("identity-jwt") || changed("identity-jwt-audience") || changed("identity-jwt-ttl")
	if f.remove {
		if given {
			return nil, true, &usageError{"--no-identity-jwt removes the settings: give no other --identity-jwt flag with it"}
		}
		return nil, true, nil
	}
	if !given {
		return nil, false, nil
	}
	m := map[string]any{}
	if changed("identity-jwt") {
		m["enabled"] = f.enabled
	} else if changed("identity-jwt-audience") || changed("identity-jwt-ttl") {
		m["enabled"] = true
	}
	if f.audience != "" {
		m["audience"] = f.audience
	}
	if f.ttl != "" {
		m["ttl"] = f.ttl
	}
	return m, true, nil
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
	if s.Lifecycle != "" && s.Lifecycle != domain.LifecycleActive {
		l := s.Lifecycle
		if s.Sunset != nil {
			l += ", sunset " + s.Sunset.UTC().Format("2006-01-02T15:04:05Z")
		}
		if s.Successor != "" {
			l += ", successor " + clean(s.Successor)
		}
		kv = append(kv, "Lifecycle", l)
	}
	if ij := s.IdentityJWT; ij != nil {
		state := "off"
		if ij.Enabled {
			state = "on"
		}
		kv = append(kv, "Identity JWT", fmt.Sprintf("%s (aud %s, ttl %s)", state, clean(ij.Audience), ij.TTL.D()))
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
