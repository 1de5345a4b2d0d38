// Package pgtest gives tests a real, empty Postgres database.
//
// New returns the URL of a database created for the calling test and
// dropped when it ends. The server is either the one named by the
// PUBSUB_TEST_DATABASE_URL environment variable (a postgres:// URL of a
// role allowed to create databases; its database is used only to run
// CREATE DATABASE), or else a throwaway cluster that pgtest initialises in
// a temporary directory the first time a test asks for a database, and that
// Main stops when the test binary ends. A package whose tests call New
// therefore has:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// The throwaway cluster needs the initdb and postgres binaries, from PATH or
// else from the newest /usr/lib/postgresql/*/bin. Without them a test is
// skipped, except under CI (CI=true), where a missing database is a failure.
// Postgres refuses to run as root, so when the tests run as root the
// cluster runs as the postgres system user (or nobody if there is none).
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL is the environment variable naming an existing server to create
// test databases on, instead of starting a throwaway cluster.
const EnvURL = "PUBSUB_TEST_DATABASE_URL"

var (
	mu       sync.Mutex
	admin    *pgx.Conn // connection to the server's admin database, guarded by mu
	baseURL  *url.URL  // admin URL, whose path New replaces by the test database
	cluster  *server   // the throwaway cluster, nil when EnvURL is used
	initErr  error     // why the server is unavailable, remembered for later tests
	fileCopy bool      // create databases with STRATEGY FILE_COPY
	inited   bool

	counter atomic.Int64
	runID   = randomHex(4)
)

// Main runs the tests of m, stops the throwaway cluster if one was started,
// and exits with the tests' status. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	Stop()
	os.Exit(code)
}

// Stop closes the admin connection and stops the throwaway cluster, if
// any, removing its directory. Main calls it; call it yourself only from a
// TestMain that cannot use Main. New must not be called afterwards.
func Stop() {
	mu.Lock()
	defer mu.Unlock()
	if admin != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = admin.Close(ctx)
		cancel()
		admin = nil
	}
	if cluster != nil {
		cluster.stop()
		cluster = nil
	}
}

// New creates an empty database for t and returns its postgres:// URL. The
// database is dropped, with any connection still open to it, when t ends.
func New(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	mu.Lock()
	defer mu.Unlock()
	if err := setup(ctx); err != nil {
		unavailable(t, err)
		return ""
	}

	name := fmt.Sprintf("pubsub_test_%s_%d", runID, counter.Add(1))
	create := "CREATE DATABASE " + name
	if fileCopy {
		create += " STRATEGY FILE_COPY"
	}
	if _, err := admin.Exec(ctx, create); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() { drop(name) })

	u := *baseURL
	u.Path = "/" + name
	return u.String()
}

// setup connects to the server, starting the throwaway cluster if needed.
// It runs once; later calls return its outcome. mu is held.
func setup(ctx context.Context) error {
	if inited {
		return initErr
	}
	inited = true
	initErr = connect(ctx)
	return initErr
}

func connect(ctx context.Context) error {
	raw := os.Getenv(EnvURL)
	if raw == "" {
		s, err := startCluster(ctx)
		if err != nil {
			return err
		}
		cluster = s
		raw = s.url
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return fmt.Errorf("%s must be a postgres:// URL", EnvURL)
	}
	conn, err := pgx.Connect(ctx, raw)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", u.Redacted(), err)
	}
	admin, baseURL = conn, u
	// Copying the template's files is the fastest way to create a small
	// database (Postgres 15+), but it forces a checkpoint: only on our own
	// throwaway cluster, never on a shared server.
	major, _, _ := strings.Cut(conn.PgConn().ParameterStatus("server_version"), ".")
	if v, _ := strconv.Atoi(major); cluster != nil && v >= 15 {
		fileCopy = true
	}
	return nil
}

// unavailable ends t when there is no server: a skip when Postgres is not
// installed, except under CI, where every test must run; a failure for
// anything else.
func unavailable(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, errNoBinaries) && !inCI() {
		t.Skipf("pgtest: %v", err)
		return
	}
	t.Fatalf("pgtest: %v", err)
}

// inCI reports whether the tests run under continuous integration, which
// sets CI=true (GitHub Actions, GitLab CI and most others do).
func inCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v == "true" || v == "1"
}

// drop removes a test database. WITH (FORCE) ends connections a test left
// open; it needs Postgres 13, so older servers get a plain DROP.
func drop(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mu.Lock()
	defer mu.Unlock()
	if admin == nil {
		return
	}
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
