package controlplane

import (
	"context"
	"strings"
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

// MaxPerPage is the largest page size a list accepts.
const MaxPerPage = 100

// CreateNamespace creates a namespace for the account. Returns
// EINVALIDNAME, EINVALID, or ECONFLICT when any account has the name.
func (s *Service) CreateNamespace(ctx context.Context, accountID, name, description string) (*Namespace, error) {
	n, err := NormalizeName("namespace", name)
	if err != nil {
		return nil, err
	}
	if err := ValidateDescription(description); err != nil {
		return nil, err
	}
	now := s.now()
	ns := &Namespace{ID: NewID(), AccountID: accountID, Name: n, Description: description, CreatedOn: now, ModifiedOn: now}
	if err := s.store.CreateNamespace(ctx, ns); err != nil {
		return nil, err
	}
	s.changed()
	return ns, nil
}

// FindNamespace returns the account's namespace. Returns ENOTFOUND.
func (s *Service) FindNamespace(ctx context.Context, accountID, name string) (*Namespace, error) {
	return s.store.FindNamespace(ctx, accountID, strings.ToLower(name))
}

// ListNamespaces returns one page of the account's namespaces and the total.
func (s *Service) ListNamespaces(ctx context.Context, accountID string, p Page) ([]*Namespace, int, error) {
	return s.store.ListNamespaces(ctx, accountID, p)
}

// DeleteNamespace deletes an empty namespace. Returns ENOTFOUND or ENOTEMPTY.
func (s *Service) DeleteNamespace(ctx context.Context, accountID, name string) error {
	if err := s.store.DeleteNamespace(ctx, accountID, strings.ToLower(name)); err != nil {
		return err
	}
	s.changed()
	return nil
}
