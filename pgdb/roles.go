package pgdb

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Privileges says which tables of the schema a serving role may not change freely. Every other
// table gets SELECT, INSERT, UPDATE and DELETE.
type Privileges struct {
	// AppendOnly tables get INSERT and SELECT only: a trail no statement of the server may
	// change or remove, whatever a bug or an intruder in the server tries.
	AppendOnly []string
	// ReadOnly tables get SELECT only: a library's record of its own migrations. Migrate's
	// version tables (schema_version_*) are read-only always: /readyz reads them.
	ReadOnly []string
}

// roleName is what Grant accepts as a role: a plain PostgreSQL identifier (it is quoted all
// the same), so a typo or a pasted connection string fails with a reason instead of granting
// to a role nobody meant.
var roleName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]{0,62}$`)

// Grant gives role exactly what the server and the command-line tools need of the current
// schema, run as the owner of its tables after Migrate: USAGE on the schema, USAGE and SELECT on
// its sequences, and on each table what p says. Whatever role held before on those tables is
// revoked first, in the same transaction, so a grant made by hand does not survive, and running
// it again changes nothing. Tables created by a later migration need Grant again.
//
// Grant refuses a role that does not exist, a superuser, and a role that owns (or is a member
// of the owner of) an append-only table: no grant binds those.
func Grant(ctx context.Context, pool *pgxpool.Pool, role string, p Privileges) error {
	if !roleName.MatchString(role) {
		return fmt.Errorf("pgdb: grant: %q is not a role name (letters, digits, _ and -, at most 63)", role)
	}
	return InTx(ctx, pool, func(tx pgx.Tx) error {
		var super bool
		err := tx.QueryRow(ctx, `SELECT rolsuper FROM pg_roles WHERE rolname = $1::text`, role).Scan(&super)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("pgdb: grant: role %q does not exist (create it first: CREATE ROLE %s LOGIN PASSWORD '…')", role, pgx.Identifier{role}.Sanitize())
		}
		if err != nil {
			return fmt.Errorf("pgdb: grant: %w", err)
		}
		if super {
			return fmt.Errorf("pgdb: grant: role %q is a superuser: no grant binds it; serve as a role that is not", role)
		}
		for _, t := range p.AppendOnly {
			var owns bool
			err := tx.QueryRow(ctx, `SELECT COALESCE((SELECT pg_has_role($1::text, relowner, 'MEMBER') FROM pg_class WHERE oid = to_regclass($2::text)), false)`, role, t).Scan(&owns)
			if err != nil {
				return fmt.Errorf("pgdb: grant: %w", err)
			}
			if owns {
				return fmt.Errorf("pgdb: grant: role %q owns %s (or is a member of its owner): grants do not bind an owner; serve as a role that owns no table", role, t)
			}
		}
		var schema string
		if err := tx.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
			return fmt.Errorf("pgdb: grant: %w", err)
		}
		rows, err := tx.Query(ctx, `SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname = $1::text AND c.relkind IN ('r', 'p') ORDER BY c.relname`, schema)
		if err != nil {
			return fmt.Errorf("pgdb: grant: list tables: %w", err)
		}
		tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("pgdb: grant: list tables: %w", err)
		}
		r, s := pgx.Identifier{role}.Sanitize(), pgx.Identifier{schema}.Sanitize()
		stmts := []string{
			"GRANT USAGE ON SCHEMA " + s + " TO " + r,
			"REVOKE ALL ON ALL SEQUENCES IN SCHEMA " + s + " FROM " + r,
			"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA " + s + " TO " + r,
		}
		for _, t := range tables {
			name := pgx.Identifier{schema, t}.Sanitize()
			stmts = append(stmts, "REVOKE ALL ON TABLE "+name+" FROM "+r,
				"GRANT "+p.tablePrivileges(t)+" ON TABLE "+name+" TO "+r)
		}
		for _, stmt := range stmts {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("pgdb: grant: %s: %w", stmt, err)
			}
		}
		return nil
	})
}

// tablePrivileges is what a serving role gets on table t.
func (p Privileges) tablePrivileges(t string) string {
	switch {
	case slices.Contains(p.AppendOnly, t):
		return "SELECT, INSERT"
	case slices.Contains(p.ReadOnly, t), strings.HasPrefix(t, "schema_version_"):
		return "SELECT"
	}
	return "SELECT, INSERT, UPDATE, DELETE"
}

// CheckServing refuses a connection that no grant binds, for a server outside development: a
// superuser, or the owner (or a member of the owner) of one of the append-only tables. Either
// could change or remove what the trail holds — disable its triggers, drop it — and then no one
// could trust it. A table not there yet (a schema never migrated) is not checked; /readyz
// reports that schema.
func CheckServing(ctx context.Context, q Querier, appendOnly ...string) error {
	var (
		user  string
		super bool
	)
	if err := q.QueryRow(ctx, `SELECT current_user::text, rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&user, &super); err != nil {
		return fmt.Errorf("pgdb: check the serving role: %w", err)
	}
	if super {
		return fmt.Errorf("connected to the database as %q, a superuser, which no grant binds: run \"kagi migrate --grant-to ROLE\" as the owner of the schema, then serve with a DATABASE_URL of ROLE, a role that owns no table", user)
	}
	for _, t := range appendOnly {
		var owner string
		var owns bool
		err := q.QueryRow(ctx, `SELECT relowner::regrole::text, pg_has_role(current_user, relowner, 'MEMBER') FROM pg_class WHERE oid = to_regclass($1::text)`, t).Scan(&owner, &owns)
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		}
		if err != nil {
			return fmt.Errorf("pgdb: check the serving role: %w", err)
		}
		if owns {
			return fmt.Errorf("connected to the database as %q, which owns %s (its owner is %s), and an owner can change or drop it: run \"kagi migrate --grant-to ROLE\" as the owner, then serve with a DATABASE_URL of ROLE, a role that owns no table", user, t, owner)
		}
	}
	return nil
}
