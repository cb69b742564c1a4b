package cli

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/spf13/cobra"

	"gatehouse/internal/domain"
)

// userItem is a user as the admin API shows it (never its password or
// hash).
type userItem struct {
	ID         string `json:"id"`
	Username   string `json:"username"`
	Role       string `json:"role"`
	TenantID   string `json:"tenant"`
	ConsumerID string `json:"consumer"`
	Status     string `json:"status"`
}

// userCmd manages user accounts: people who log in with a username and
// password (issue 9) — console users with a role, and developers who log
// in to the developer portal for one consumer. Passwords are read from a
// file or stdin, never from arguments (ps, shell history).
func (a *app) userCmd() *cobra.Command {
	var username, role, tenant, consumer, passwordFile string
	readPassword := func() (string, error) {
		src := passwordFile
		if src == "" {
			src = "-"
		}
		return a.readSecretLine(src, "password")
	}
	create := &cobra.Command{
		Use:   "create --username U --role admin|tenant-admin|viewer|developer [--tenant T] [--consumer C] [--password-file F]",
		Short: "Create a console user or a consumer's developer; the password is read from --password-file or stdin",
		Long: "Create a user who logs in with a username and password. Console users act in the web console with\n" +
			"a role: admin (everything), tenant-admin (one tenant's objects, needs --tenant) or viewer (read\n" +
			"only); only gateway admins create them. A developer (needs --consumer) logs in to the developer\n" +
			"portal, not the console, and acts there for that one consumer: its services, subscriptions, keys,\n" +
			"calls and doctor; a tenant-admin may create developers for its own tenant's consumers.\n" +
			"The password (at least 12 characters) is read from --password-file, or stdin when the flag is\n" +
			"absent, never from an argument; it is stored as an argon2id hash and never shown.",
		Example: "  gatehouse user create --username alice --role tenant-admin --tenant acme --password-file pw.txt\n" +
			"  printf '%s\\n' \"$PW\" | gatehouse user create --username bob --role viewer\n" +
			"  gatehouse user create --username dev@shop.example --role developer --consumer shop/checkout --password-file pw.txt",
		RunE: a.run(spec{required: []string{"username", "role"}, extraArgs: "unexpected argument: the password is read from --password-file or stdin, never arguments"},
			func(ctx context.Context, c *client, _ []string) error {
				switch role {
				case domain.RoleAdmin, domain.RoleViewer:
				case domain.RoleTenantAdmin:
					if tenant == "" {
						return fmt.Errorf("--role tenant-admin needs --tenant: the tenant this user manages")
					}
				case domain.RoleDeveloper:
					if consumer == "" {
						return fmt.Errorf("--role developer needs --consumer: the consumer (id or tenant-slug/name) this developer acts for in the portal")
					}
				default:
					return fmt.Errorf("--role %q: use admin, tenant-admin, viewer or developer", role)
				}
				if consumer != "" && role != domain.RoleDeveloper {
					return fmt.Errorf("--consumer is for --role developer only: a %s is not bound to a consumer", role)
				}
				pw, err := readPassword()
				if err != nil {
					return err
				}
				body := map[string]string{"username": username, "role": role, "password": pw}
				if tenant != "" {
					body["tenant"] = tenant
				}
				if consumer != "" {
					body["consumer"] = consumer
				}
				return object(ctx, a, c, http.MethodPost, "/users", body, func(v userItem) error {
					where := "the console"
					if v.Role == domain.RoleDeveloper {
						where = "the developer portal, acting for consumer " + clean(v.ConsumerID) + ","
					}
					_, err := fmt.Fprintf(a.io.Out, "Created user %s (id %s, role %s%s). They log in to %s with the password you set.\n",
						clean(v.Username), clean(v.ID), clean(v.Role), tenantNote(v.TenantID), where)
					return err
				})
			}),
	}
	create.Flags().StringVar(&username, "username", "", "the login name: lowercase letters, digits, . @ - (required)")
	create.Flags().StringVar(&role, "role", "", "admin, tenant-admin, viewer or developer (required)")
	create.Flags().StringVar(&tenant, "tenant", "", "for tenant-admin: the tenant id or slug")
	create.Flags().StringVar(&consumer, "consumer", "", "for developer: the consumer id, name, or tenant-slug/name it acts for")
	create.Flags().StringVar(&passwordFile, "password-file", "", "file holding the password on one line ('-' or absent: stdin)")

	var lf listFlags
	var byConsumer string
	ls := &cobra.Command{
		Use:   "list [--consumer C]",
		Short: "List users (never their passwords)",
		RunE: a.run(spec{}, func(ctx context.Context, c *client, _ []string) error {
			q := url.Values{}
			if byConsumer != "" {
				q.Set("consumer", byConsumer)
			}
			return list(ctx, a, c, listing[userItem]{
				path: "/users", plural: "users",
				header: []string{"ID", "USERNAME", "ROLE", "TENANT", "CONSUMER", "STATUS"},
				row: func(v userItem) []string {
					return []string{clean(v.ID), clean(v.Username), clean(v.Role), or(clean(v.TenantID), "–"), or(clean(v.ConsumerID), "–"), clean(v.Status)}
				},
			}, q, lf)
		}),
	}
	ls.Flags().StringVar(&byConsumer, "consumer", "", "only the developers of this consumer (id, name, or tenant-slug/name)")
	lf.add(ls)
	status := func(op, short, said string) *cobra.Command {
		return &cobra.Command{
			Use:   op + " <id or username>",
			Short: short,
			RunE: a.run(spec{args: []string{"<id or username>"}}, func(ctx context.Context, c *client, args []string) error {
				return object(ctx, a, c, http.MethodPost, "/users/"+pathEscape(args[0])+"/"+op, nil, func(v userItem) error {
					_, err := fmt.Fprintf(a.io.Out, "User %s %s\n", clean(v.Username), said)
					return err
				})
			}),
		}
	}
	var resetFile string
	reset := &cobra.Command{
		Use:   "password <id or username> [--password-file F]",
		Short: "Set a new password for a user (read from --password-file or stdin)",
		RunE: a.run(spec{args: []string{"<id or username>"}}, func(ctx context.Context, c *client, args []string) error {
			passwordFile = resetFile
			pw, err := readPassword()
			if err != nil {
				return err
			}
			return object(ctx, a, c, http.MethodPost, "/users/"+pathEscape(args[0])+"/password", map[string]string{"password": pw}, func(v userItem) error {
				_, err := fmt.Fprintf(a.io.Out, "User %s has a new password.\n", clean(v.Username))
				return err
			})
		}),
	}
	reset.Flags().StringVar(&resetFile, "password-file", "", "file holding the password on one line ('-' or absent: stdin)")
	return a.group("user", "Manage user accounts (username and password logins: console users and developers)",
		"Console users log in to the web console with a username and password and act with a role, like admin\n"+
			"tokens; only gateway admins manage them. Developers log in to the developer portal and act for one\n"+
			"consumer; admins, and tenant-admins for their tenant's consumers, manage them. Passwords are stored\n"+
			"as argon2id hashes and never shown.",
		create, ls,
		status("disable", "Disable a user: no more logins, open sessions end at their next request", "is disabled: no more logins, and their open sessions end."),
		status("enable", "Enable a disabled user", "may log in again."),
		reset)
}

func tenantNote(id string) string {
	if id == "" {
		return ""
	}
	return ", tenant " + clean(id)
}
