package store

import (
	"context"
	"time"
)

// User is a user account (issue 9): a person who logs in with a username
// and password. A console user (role admin, tenant-admin or viewer) acts
// with its role exactly as an admin token of that role would (the admin
// API applies the same checks and audits under the user's name); a
// developer (domain.RoleDeveloper) logs in to the developer portal only
// and acts there for its one consumer.
type User struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	// Role is admin, tenant-admin, viewer or developer (domain.Role*); a
	// tenant-admin is bound to TenantID, a developer to ConsumerID (and
	// to its tenant in TenantID).
	Role     string `json:"role"`
	TenantID string `json:"tenant,omitempty"`
	// ConsumerID is the consumer a developer acts for; empty for every
	// other role.
	ConsumerID string `json:"consumer,omitempty"`
	// PasswordHash is an argon2id PHC string (secrets.HashPassword). It
	// never leaves the store's callers: not in JSON, not in the audit log.
	PasswordHash  string    `json:"-"`
	PasswordSetAt time.Time `json:"password_set_at"`
	// DisabledAt is set when the user may no longer log in.
	DisabledAt *time.Time `json:"disabled_at,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
}

// UserTx is the user-account part of a Tx, changed with its one audit
// entry in the same transaction. Like AITx it is separate from Tx; the Tx
// of every Store implementing UserStore implements it, and callers
// type-assert it. Writes in a View are ErrReadOnly.
type UserTx interface {
	// GetUser finds a user by id or, failing that, by username
	// (ErrNotFound naming the reference).
	GetUser(ctx context.Context, idOrUsername string) (User, error)
	// PutUser inserts or updates a user by ID; a username taken by
	// another user is ErrConflict naming it; the user's tenant and
	// consumer, when set, must exist (ErrNotFound naming them).
	PutUser(ctx context.Context, u User) error
}

// UserStore is the user-account part of a Store; storetest.RunUsers
// checks it. Callers holding a Store type-assert it.
type UserStore interface {
	// ListUsers lists users in id order, filtered by TenantID, ConsumerID
	// and Name (the exact username).
	ListUsers(ctx context.Context, f ListFilter) ([]User, string, error)
}
