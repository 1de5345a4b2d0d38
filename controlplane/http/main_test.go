package http_test

import (
	"testing"

	"github.com/openpubsub/pubsub/internal/pgtest"
)

// TestMain stops the throwaway Postgres cluster when the tests end.
func TestMain(m *testing.M) { pgtest.Main(m) }
