// Package openid is kagi's OpenID Provider (SPEC §11): the brokerage's applications as
// clients, read from a file at start; the ES256 signing keys, kept sealed in PostgreSQL so that
// every replica signs and publishes the same ones; and the provider's endpoints, built on
// zitadel/oidc's op package, which parses the requests and issues, signs and verifies every
// token, over the authorization requests, codes and token grants kept in PostgreSQL (issue 24).
//
// It stands on auth: the browser's session decides whether an authorization is answered at
// once, and the login APIs tell it of a login made for one through auth.Authorizations, which
// Authorizations implements. Every end of a kagi session is told to it through
// auth.SessionEnds, which SessionEnds implements: the tokens from the session are revoked and
// the applications sent a back-channel logout token, which LogoutSender delivers from the
// outbox (SPEC §11.5).
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
