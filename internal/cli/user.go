package cli

import (
	"context"
	"fmt"
	"net/http"

	"github.com/spf13/cobra"

	"gatehouse/internal/domain"
)

// userItem is a console user as the admin API shows it (never its
// password or hash).
type userItem struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	Role     string `json:"role"`
	TenantID string `json:"tenant"`
	Status   string `json:"status"`
}

// userCmd manages console user accounts: people who log in to the web
// console with a username and password (issue 9). Passwords are read from
// a file or stdin, never from arguments (ps, shell history).
func (a *app) userCmd() *cobra.Command {
	var username, role, tenant, passwordFile string
	readPassword := func() (string, error) {
		src := passwordFile
		if src == "" {
			src = "-"
		}
		return a.readSecretLine(src, "password")
	}
	create := &cobra.Command{
		Use:   "create --username U --role admin|tenant-admin|viewer [--tenant T] [--password-file F]",
		Short: "Create a console user; the password is read from --password-file or stdin",
		Long: "Create a user who logs in to the web console with a username and password and acts with a role:\n" +
			"admin (everything), tenant-admin (one tenant's objects, needs --tenant) or viewer (read only).\n" +
			"The password (at least 12 characters) is read from --password-file, or stdin when the flag is\n" +
			"absent, never from an argument; it is stored as an argon2id hash and never shown.",
		Example: "  gatehouse user create --username alice --role tenant-admin --tenant acme --password-file pw.txt\n" +
			"  printf '%s\\n' \"$PW\" | gatehouse user create --username bob --role viewer",
		RunE: a.run(spec{required: []string{"username", "role"}, extraArgs: "unexpected argument: the password is read from --password-file or stdin, never arguments"},
			func(ctx context.Context, c *client, _ []string) error {
				switch role {
				case domain.RoleAdmin, domain.RoleViewer:
				case domain.RoleTenantAdmin:
					if tenant == "" {
						return fmt.Errorf("--role tenant-admin needs --tenant: the tenant this user manages")
					}
				default:
					return fmt.Errorf("--role %q: use admin, tenant-admin or viewer", role)
				}
				pw, err := readPassword()
				if err != nil {
					return err
				}
				body := map[string]string{"username": username, "role": role, "password": pw}
				if tenant != "" {
					body["tenant"] = tenant
				}
				return object(ctx, a, c, http.MethodPost, "/users", body, func(v userItem) error {
					_, err := fmt.Fprintf(a.io.Out, "Created user %s (id %s, role %s%s). They log in to the console with the password you set.\n",
						clean(v.Username), clean(v.ID), clean(v.Role), tenantNote(v.TenantID))
					return err
				})
			}),
	}
	create.Flags().StringVar(&username, "username", "", "the login name: lowercase letters, digits, . @ - (required)")
	create.Flags().StringVar(&role, "role", "", "admin, tenant-admin or viewer (required)")
	create.Flags().StringVar(&tenant, "tenant", "", "for tenant-admin: the tenant id or slug")
	create.Flags().StringVar(&passwordFile, "password-file", "", "file holding the password on one line ('-' or absent: stdin)")

	var lf listFlags
	ls := &cobra.Command{
		Use:   "list",
		Short: "List console users (never their passwords)",
		RunE: a.run(spec{}, func(ctx context.Context, c *client, _ []string) error {
			return list(ctx, a, c, listing[userItem]{
				path: "/users", plural: "users",
				header: []string{"ID", "USERNAME", "ROLE", "TENANT", "STATUS"},
				row: func(v userItem) []string {
					return []string{clean(v.ID), clean(v.Username), clean(v.Role), or(clean(v.TenantID), "–"), clean(v.Status)}
				},
			}, nil, lf)
		}),
	}
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
		Short: "Set a new password for a console user (read from --password-file or stdin)",
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
	return a.group("user", "Manage console user accounts (username and password logins)",
		"Users log in to the web console with a username and password and act with a role, like admin tokens;\n"+
			"only gateway admins manage them. Passwords are stored as argon2id hashes and never shown.",
		create, ls,
		status("disable", "Disable a console user: no more logins, open sessions end at their next request", "is disabled: no more logins, and their open sessions end."),
		status("enable", "Enable a disabled console user", "may log in again."),
		reset)
}

func tenantNote(id string) string {
	if id == "" {
		return ""
	}
	return ", tenant " + clean(id)
}
