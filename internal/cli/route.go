package cli

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"gatehouse/internal/domain"
)

func (a *app) routeCmd() *cobra.Command {
	var service, name, typ, prompt string
	var paths, methods, auth, scopes, hosts []string
	var strip bool
	create := &cobra.Command{
		Use:     "create --service S --path /x [--method GET]… [--auth api_key] [--scopes a,b] [--strip-prefix]",
		Short:   "Create a route (which requests map to a service)",
		Example: "  gatehouse route create --service orders --path /v1/orders --method GET --method POST --scopes orders:read",
		RunE: a.run(spec{required: []string{"service", "path"}}, func(ctx context.Context, c *client, _ []string) error {
			for _, p := range paths {
				if !strings.HasPrefix(p, "/") {
					return fmt.Errorf("--path %q must start with /", p)
				}
			}
			ms := make([]string, len(methods))
			for i, m := range methods {
				ms[i] = strings.ToUpper(m)
			}
			body := map[string]any{"service": service, "paths": paths, "methods": ms, "auth": nonNil(auth), "scopes": nonNil(scopes)}
			if len(auth) == 0 {
				body["auth"] = []string{domain.AuthAPIKey}
			}
			if strip {
				body["strip_prefix"] = true
			}
			if len(hosts) > 0 {
				body["hosts"] = hosts
			}
			if name != "" {
				body["name"] = name
			}
			if typ != "" {
				body["type"] = typ
			}
			if prompt != "" {
				body["prompt"] = prompt
			}
			return object(ctx, a, c, http.MethodPost, "/routes", body, func(r domain.Route) error {
				fmt.Fprintf(a.io.Out, "Created route %s; it takes effect on the next request.\n", clean(r.ID))
				return a.showRoute(r)
			})
		}),
	}
	f := create.Flags()
	f.StringVar(&service, "service", "", "service id or name (required)")
	f.StringArrayVar(&paths, "path", nil, "path prefix, e.g. /v1/orders; repeatable (required)")
	f.StringArrayVar(&methods, "method", nil, "HTTP method; repeatable (default: any)")
	f.StringSliceVar(&auth, "auth", nil, "accepted auth methods, comma-separated: api_key, jwt, introspection, http_signature, mtls, basic (default api_key)")
	f.StringSliceVar(&scopes, "scopes", nil, "scopes a caller must hold, comma-separated")
	f.BoolVar(&strip, "strip-prefix", false, "remove the matched path prefix before forwarding")
	f.StringArrayVar(&hosts, "host", nil, "only match this Host; repeatable (default: any host)")
	f.StringVar(&name, "name", "", "a label for people")
	f.StringVar(&typ, "type", "", "proxy (default), ai (the OpenAI API under the path) or prompt (serves --prompt)")
	f.StringVar(&prompt, "prompt", "", "with --type prompt: the prompt's id, name or tenant-slug/name")

	var lf listFlags
	var byService string
	ls := &cobra.Command{
		Use:   "list [--service S]",
		Short: "List routes",
		RunE: a.run(spec{}, func(ctx context.Context, c *client, _ []string) error {
			q := url.Values{}
			if byService != "" {
				q.Set("service", byService)
			}
			return list(ctx, a, c, listing[domain.Route]{
				path: "/routes", plural: "routes",
				header: []string{"ID", "SERVICE", "PATHS", "METHODS", "AUTH", "SCOPES", "HOSTS"},
				row: func(r domain.Route) []string {
					return []string{clean(r.ID), clean(r.ServiceID), csv(r.Paths), or(csvOrEmpty(r.Methods), "any"), authList(r.Auth), csv(r.Scopes), or(csvOrEmpty(r.Hosts), "any")}
				},
			}, q, lf)
		}),
	}
	ls.Flags().StringVar(&byService, "service", "", "only this service's routes")
	lf.add(ls)

	get := &cobra.Command{
		Use:   "get <id>",
		Short: "Show one route",
		RunE: a.run(spec{args: []string{"<id>"}}, func(ctx context.Context, c *client, args []string) error {
			return object(ctx, a, c, http.MethodGet, "/routes/"+pathEscape(args[0]), nil, a.showRoute)
		}),
	}
	del := &cobra.Command{
		Use:   "delete <id>",
		Short: "Delete a route; its requests answer route.not_found from the next one on",
		RunE: a.run(spec{args: []string{"<id>"}}, func(ctx context.Context, c *client, args []string) error {
			return remove(ctx, a, c, "/routes/"+pathEscape(args[0]), fmt.Sprintf("Route %s deleted.", clean(args[0])))
		}),
	}
	return a.group("route", "Manage routes",
		"Routes map requests (host, path prefix, methods) to a service and say which credentials and scopes they require.",
		create, ls, get, del)
}

func (a *app) showRoute(r domain.Route) error {
	kv := []string{
		"ID", clean(r.ID),
		"Service", clean(r.ServiceID),
	}
	if r.Name != "" {
		kv = append(kv, "Name", clean(r.Name))
	}
	kv = append(kv,
		"Paths", csv(r.Paths),
		"Methods", or(csvOrEmpty(r.Methods), "any"),
		"Hosts", or(csvOrEmpty(r.Hosts), "any"),
		"Auth", authList(r.Auth),
		"Scopes", csv(r.Scopes),
		"Strip prefix", yesNo(r.StripPrefix, "yes", "no"),
	)
	if r.Type != "" && r.Type != domain.RouteProxy {
		kv = append(kv, "Type", clean(r.Type))
	}
	if r.PromptID != "" {
		kv = append(kv, "Prompt", clean(r.PromptID))
	}
	if r.Declared {
		kv = append(kv, "Declared", "yes: in gatehouse.yaml, read-only here")
	}
	kv = append(kv, "Created", when(r.CreatedAt, a.io.Now()))
	return fields(a.io.Out, kv...)
}

// authList shows a route's accepted auth methods; empty means api_key.
func authList(v []string) string {
	if len(v) == 0 {
		return domain.AuthAPIKey
	}
	return csv(v)
}
