package console

import (
	"net/http"
	"strings"
	"time"

	"gatehouse/internal/domain"
)

// userItem is a user as the admin API shows it (never a password or its
// hash).
type userItem struct {
	ID            string     `json:"id"`
	Username      string     `json:"username"`
	Role          string     `json:"role"`
	TenantID      string     `json:"tenant"`
	ConsumerID    string     `json:"consumer"`
	Status        string     `json:"status"`
	PasswordSetAt time.Time  `json:"password_set_at"`
	DisabledAt    *time.Time `json:"disabled_at"`
	CreatedAt     time.Time  `json:"created_at"`
}

// ---- users (console accounts and developers) ----

func (c *Console) users(w http.ResponseWriter, r *http.Request, rs *reqState) {
	d, err := listPageOf[userItem](c, r, rs, query(r, "tenant", "consumer", "username"), "users")
	if err != nil {
		c.apiFailed(w, r, rs, err)
		return
	}
	c.tpl.render(w, http.StatusOK, "c_users", "", c.view(rs, "users", "Users", d))
}

// createUser sends the password to the admin API, which hashes it; it
// never appears in a flash, a page or a log line.
func (c *Console) createUser(w http.ResponseWriter, r *http.Request, rs *reqState) {
	body := map[string]any{"username": strings.TrimSpace(r.PostFormValue("username")), "role": strings.TrimSpace(r.PostFormValue("role")),
		"password": r.PostFormValue("password")}
	for _, f := range []string{"tenant", "consumer"} {
		if v := strings.TrimSpace(r.PostFormValue(f)); v != "" {
			body[f] = v
		}
	}
	var u userItem
	if err := c.post(r, rs, body, &u, "users"); err != nil {
		c.apiFailed(w, r, rs, err)
		return
	}
	where := "the console"
	if u.Role == domain.RoleDeveloper {
		where = "the developer portal"
	}
	c.done(w, r, rs, "User "+u.Username+" ("+u.Role+") created: they log in to "+where+" with the password you set.", c.base+"/users")
}

func (c *Console) userOp(w http.ResponseWriter, r *http.Request, rs *reqState) {
	id, op := r.PathValue("id"), r.PathValue("op")
	var body any
	switch op {
	case "disable", "enable":
	case "password":
		body = map[string]string{"password": r.PostFormValue("password")}
	default:
		http.NotFound(w, r)
		return
	}
	var u userItem
	if err := c.post(r, rs, body, &u, "users", id, op); err != nil {
		c.apiFailed(w, r, rs, err)
		return
	}
	msg := map[string]string{"disable": "is disabled: their sessions end at their next request.", "enable": "may log in again.",
		"password": "has a new password."}[op]
	c.done(w, r, rs, "User "+u.Username+" "+msg, c.base+"/users")
}
