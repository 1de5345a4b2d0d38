// Package migrations holds the database schema of the control plane as
// embedded SQL files, one set per dialect, and the runner that applies them
// when a store opens.
//
// Files are named NNNN_name.up.sql and NNNN_name.down.sql, numbered from
// 0001 without gaps. The set is append-only: once a release has applied a
// migration, its up file never changes again. The runner records a checksum
// of every migration it applies and refuses to start against a database
// whose recorded checksum differs from the embedded file, so an edited
// migration fails loudly instead of leaving databases with diverging
// schemas. To change the schema, add a new file.
package migrations

import (
	"embed"
	"io/fs"
)

//go:embed postgres/*.sql
var postgresFiles embed.FS

//go:embed sqlite/*.sql
var sqliteFiles embed.FS

// Postgres returns the migration files of the Postgres store.
func Postgres() fs.FS { return sub(postgresFiles, "postgres") }

// SQLite returns the migration files of the SQLite store.
func SQLite() fs.FS { return sub(sqliteFiles, "sqlite") }

func sub(fsys embed.FS, dir string) fs.FS {
	s, err := fs.Sub(fsys, dir)
	if err != nil {
		// Only reachable if the embed directive above names another directory.
		panic(err)
	}
	return s
}
