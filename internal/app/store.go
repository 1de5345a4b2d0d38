package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/openpubsub/pubsub/controlplane"
	"github.com/openpubsub/pubsub/controlplane/postgres"
	"github.com/openpubsub/pubsub/controlplane/sqlite"
)

// StoreConfig selects the store: Postgres when DatabaseURL is set,
// otherwise the embedded SQLite file in DataDir.
type StoreConfig struct {
	DatabaseURL string
	DataDir     string
}

// SQLiteFile is the embedded store's file name inside the data dir.
const SQLiteFile = "pubsub.db"

// OpenStore opens the configured store and applies pending migrations.
func OpenStore(ctx context.Context, cfg StoreConfig) (controlplane.Store, error) {
	if cfg.DatabaseURL != "" {
		s, err := postgres.Open(ctx, cfg.DatabaseURL)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		return s, nil
	}
	if cfg.DataDir == "" {
		return nil, fmt.Errorf("set --database-url (PUBSUB_DATABASE_URL) for Postgres, or --data-dir for the embedded store")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	s, err := sqlite.Open(ctx, filepath.Join(cfg.DataDir, SQLiteFile))
	if err != nil {
		return nil, fmt.Errorf("open embedded store: %w", err)
	}
	return s, nil
}

// OpenAdmin opens the store for an admin task (creating accounts or node
// tokens) and a service over it; close releases the store. Admin tasks
// create no signing keys, so a throwaway key-encryption key is enough.
func OpenAdmin(ctx context.Context, cfg StoreConfig) (svc *controlplane.Service, close func(), err error) {
	st, err := OpenStore(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	kek, _ := controlplane.ParseKEK(controlplane.NewKEK())
	svc, err = controlplane.NewService(st, controlplane.Config{Domain: "unused.invalid", KEK: kek}, nil)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return svc, func() { st.Close() }, nil
}
