package controlplane

import (
	"context"
	"time"
)

// Namespace is a container of brokers. Its name is a DNS label that is
// unique across all accounts, because it is part of every broker hostname.
type Namespace struct {
	ID          string
	AccountID   string
	Name        string
	Description string
	CreatedOn   time.Time
	ModifiedOn  time.Time
}

// NamespaceStore persists namespaces. Every mutation also appends to the
// change feed in the same transaction.
type NamespaceStore interface {
	// CreateNamespace inserts ns. Returns ECONFLICT (ErrNamespaceTaken) when
	// any account already has the name.
	CreateNamespace(ctx context.Context, ns *Namespace) error
	// FindNamespace returns the account's namespace by name, or ENOTFOUND.
	FindNamespace(ctx context.Context, accountID, name string) (*Namespace, error)
	// ListNamespaces returns one page of the account's namespaces, ordered by
	// creation, and the total count.
	ListNamespaces(ctx context.Context, accountID string, p Page) ([]*Namespace, int, error)
	// DeleteNamespace deletes the account's namespace by name. Returns
	// ENOTFOUND, or ENOTEMPTY (ErrNamespaceNotEmpty) naming its brokers.
	DeleteNamespace(ctx context.Context, accountID, name string) error
}

// Page selects one page of a list. Page counts from 1.
type Page struct {
	Page    int
	PerPage int
}

// Offset is the number of rows before this page.
func (p Page) Offset() int { return (p.Page - 1) * p.PerPage }
