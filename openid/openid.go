// Package openid holds what kagi's OpenID Provider (SPEC §11) stands on: the brokerage's
// applications as clients, read from a file at start, and the ES256 signing keys, kept sealed
// in PostgreSQL so that every replica signs and publishes the same ones. The provider's
// endpoints are built on zitadel/oidc's op package over these (issue 24).
//
// The package is named openid, not oidc, so that it can import zitadel's oidc package by its
// own name. Its tables are its own; their migrations are the set "oidc".
package openid

import (
	"embed"

	"kagi/pgdb"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Migrations is the schema of the provider's tables. It refers to no other package's tables.
var Migrations = pgdb.Embedded("oidc", migrationFS, "migrations")
