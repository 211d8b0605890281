package store

import (
	"database/sql"

	"github.com/lianmeng/lianmeng/gateway/points"
)

// identityLookup returns the member_identities.lookup value of an identity:
// the value itself, scoped by merchant for merchant customer ids.
func (db *DB) identityLookup(merchantID string, id points.Identity) string {
	if id.Kind == points.IdentityCustomer {
		return merchantID + ":" + id.Value
	}
	return id.Value
}

// sealIdentity returns what member_identities.sealed stores for a new
// identity (NULL: nothing to seal).
func (db *DB) sealIdentity(merchantID string, id points.Identity) (sql.NullString, error) {
	return sql.NullString{}, nil
}
