package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"gatehouse/internal/domain"
)

// createdAdmin is the answer to admin creation: the admin plus its bearer
// token, which the API returns only then.
type createdAdmin struct {
	domain.Admin
	Token string `json:"token"`
}

func (a *app) adminCmd() *cobra.Command {
	var name, role, tenant string
	create := &cobra.Command{
		Use:   "create --name N --role admin|tenant-admin|viewer [--tenant T]",
		Short: "Create an operator of the gateway; its token is printed once",
		Long: "Create an admin with a role: admin (everything), tenant-admin (one tenant's objects, needs\n" +
			"--tenant) or viewer (read only). Its bearer token is printed once; only its hash is stored.",
		Example: "  gatehouse admin create --name alice --role tenant-admin --tenant acme",
		RunE: a.run(spec{required: []string{"name", "role"}}, func(ctx context.Context, c *client, _ []string) error {
			switch role {
			case domain.RoleAdmin, domain.RoleViewer:
			case domain.RoleTenantAdmin:
				if tenant == "" {
					return fmt.Errorf("--role tenant-admin needs --tenant: the tenant this admin manages")
				}
			default:
				return fmt.Errorf("--role %q: use admin, tenant-admin or viewer", role)
			}
			body := map[string]string{"name": name, "role": role}
			if tenant != "" {
				body["tenant"] = tenant
			}
			return object(ctx, a, c, http.MethodPost, "/admins", body, func(v createdAdmin) error {
				fmt.Fprintf(a.io.Out, "Created admin %s (id %s, role %s).\n\n", clean(v.Name), clean(v.ID), clean(v.Role))
				if v.Token == "" {
					fmt.Fprintln(a.io.Out, "    (the admin API returned no token)")
				} else {
					fmt.Fprintf(a.io.Out, "    %s\n", clean(v.Token))
				}
				_, err := fmt.Fprintf(a.io.Out, "\nThis token is shown once — store it now. Use it as %s or --token.\n", EnvAdminToken)
				return err
			})
		}),
	}
	create.Flags().StringVar(&name, "name", "", "who this admin is (required)")
	create.Flags().StringVar(&role, "role", "", "admin, tenant-admin or viewer (required)")
	create.Flags().StringVar(&tenant, "tenant", "", "for tenant-admin: the tenant id or slug")

	var lf listFlags
	ls := &cobra.Command{
		Use:   "list",
		Short: "List admins (never their tokens)",
		RunE: a.run(spec{}, func(ctx context.Context, c *client, _ []string) error {
			return list(ctx, a, c, listing[domain.Admin]{
				path: "/admins", plural: "admins",
				header: []string{"ID", "NAME", "ROLE", "TENANT", "CREATED"},
				row: func(v domain.Admin) []string {
					return []string{clean(v.ID), clean(v.Name), clean(v.Role), or(v.TenantID, "–"), when(v.CreatedAt, a.io.Now())}
				},
			}, nil, lf)
		}),
	}
	lf.add(ls)
	del := &cobra.Command{
		Use:   "delete <id>",
		Short: "Delete an admin; its token stops working at once",
		RunE: a.run(spec{args: []string{"<id>"}}, func(ctx context.Context, c *client, args []string) error {
			return remove(ctx, a, c, "/admins/"+pathEscape(args[0]), fmt.Sprintf("Admin %s deleted; its token no longer works.", clean(args[0])))
		}),
	}
	return a.group("admin", "Manage the gateway's operators",
		"Admins authenticate to the admin API with a bearer token; roles are admin, tenant-admin and viewer.",
		create, ls, del)
}

func (a *app) statusCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the gateway's state: version, snapshot, call log (queue, dropped records), store",
		RunE: a.run(spec{}, func(ctx context.Context, c *client, _ []string) error {
			raw, err := c.call(ctx, http.MethodGet, "/status", nil, nil, nil)
			if err != nil {
				return err
			}
			if a.json() {
				return printJSON(a.io.Out, raw)
			}
			return renderTree(a.io.Out, raw)
		}),
	}
}

// renderTree prints any JSON object as aligned "a.b.c:  value" lines with
// sorted keys, so `status` shows whatever the gateway reports without the
// CLI having to know every field.
func renderTree(w io.Writer, raw []byte) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("the admin API's status is not JSON: %w", err)
	}
	var kv []string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				p := k
				if prefix != "" {
					p = prefix + "." + k
				}
				walk(p, x[k])
			}
			if len(keys) == 0 && prefix != "" {
				kv = append(kv, clean(prefix), "–")
			}
		case []any:
			parts := make([]string, len(x))
			for i, e := range x {
				b, _ := json.Marshal(e)
				parts[i] = strings.Trim(string(b), `"`)
			}
			kv = append(kv, clean(prefix), or(strings.Join(parts, ", "), "–"))
		case string:
			kv = append(kv, clean(prefix), or(x, "–"))
		case json.Number:
			kv = append(kv, clean(prefix), x.String())
		case bool:
			kv = append(kv, clean(prefix), strconv.FormatBool(x))
		case nil:
			kv = append(kv, clean(prefix), "–")
		}
	}
	walk("", v)
	if len(kv) == 0 {
		_, err := fmt.Fprintln(w, "The admin API reported no status fields.")
		return err
	}
	return fields(w, kv...)
}
