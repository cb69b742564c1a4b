package store

import (
	"context"

	"gatehouse/internal/domain"
)

// IdentityKeyTx is the identity-signing-key part of a Tx (§8,
// X-Gatehouse-Identity). Like UserTx it is separate from Tx; the Tx of
// every Store in this repository implements it (storetest checks it), and
// callers type-assert it. Keys are changed by the gateway itself (the
// first key on first start) and by rotation, each with its audit entry in
// the same transaction. Update serialises transactions (each begins by
// bumping the version), so "read, then create when missing" inside one
// Update cannot create two current keys; the store refuses a second
// current key anyway (ErrConflict). Writes in a View are ErrReadOnly.
type IdentityKeyTx interface {
	// ListIdentityKeys returns every stored key, newest first (by
	// CreatedAt, then KID), sealed private keys included.
	ListIdentityKeys(ctx context.Context) ([]domain.IdentityKey, error)
	// PutIdentityKey inserts or updates a key by KID; a second key in
	// state current is ErrConflict.
	PutIdentityKey(ctx context.Context, k domain.IdentityKey) error
	// DeleteIdentityKey removes a key (ErrNotFound naming it when absent).
	DeleteIdentityKey(ctx context.Context, kid string) error
}
