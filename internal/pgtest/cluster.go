package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// errNoBinaries means Postgres is not installed: tests skip (outside CI).
var errNoBinaries = errors.New("no Postgres binaries (initdb, postgres) on PATH or in /usr/lib/postgresql/*/bin; install Postgres or set " + EnvURL)

// server is a throwaway cluster run as a child process.
type server struct {
	dir    string // temporary directory: data/, the unix socket, postgres.log
	cmd    *exec.Cmd
	exited chan struct{} // closed when the postgres process has exited
	url    string        // admin URL (database postgres, superuser postgres, over TCP)
}

// startCluster initialises a cluster in a new temporary directory and starts
// it on a free loopback port, with durability traded for speed.
func startCluster(ctx context.Context) (*server, error) {
	initdb, postgres, err := findBinaries()
	if err != nil {
		return nil, err
	}
	base := tempBase()
	sweep(base)
	dir, err := os.MkdirTemp(base, "pgtest-")
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(dir)
		}
	}()
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, err
	}

	attr, err := runAs(dir)
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	cmd := exec.CommandContext(ctx, initdb, "-D", data, "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync")
	cmd.SysProcAttr = attr()
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}

	// A free port can be taken between our probe and postgres binding it;
	// try a few.
	for attempt := 0; ; attempt++ {
		s, err := launch(ctx, postgres, dir, attr)
		if err == nil {
			ok = true
			return s, nil
		}
		if attempt == 2 || ctx.Err() != nil {
			return nil, err
		}
	}
}

func launch(ctx context.Context, postgres, dir string, attr func() *syscall.SysProcAttr) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "postgres.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child has its own descriptor

	// Not CommandContext: the cluster outlives the context of the test that
	// started it. stop ends it.
	cmd := exec.Command(postgres,
		"-D", filepath.Join(dir, "data"),
		"-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+dir,
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "wal_level=minimal",
		"-c", "max_wal_senders=0",
		"-c", "max_connections=300",
		"-c", "shared_buffers=64MB",
		"-c", "autovacuum=off",
		"-c", "log_min_messages=warning",
		// Dynamic shared memory in the data directory, not in /dev/shm:
		// nothing outlives the directory, even if postgres is killed.
		"-c", "dynamic_shared_memory_type=mmap",
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = attr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	s := &server{
		dir:    dir,
		cmd:    cmd,
		exited: make(chan struct{}),
		url:    fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port),
	}
	go func() { _ = cmd.Wait(); close(s.exited) }()

	// Poll until the server accepts connections.
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		conn, err := pgconn.Connect(cctx, s.url)
		cancel()
		if err == nil {
			_ = conn.Close(ctx)
			return s, nil
		}
		select {
		case <-s.exited:
			log, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("postgres exited during startup:\n%s", bytes.TrimSpace(log))
		case <-deadline.C:
			s.stop()
			return nil, fmt.Errorf("postgres did not accept connections within 30s: %v", err)
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
}

// stop shuts the cluster down (fast shutdown: open sessions are ended)
// and removes its directory.
func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	_ = os.RemoveAll(s.dir)
}

// tempBase is where clusters live: in memory (/dev/shm) when the system
// has it, which makes CREATE DATABASE about ten times faster than on disk.
func tempBase() string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() && isWritable("/dev/shm") {
		return "/dev/shm"
	}
	return os.TempDir()
}

func isWritable(dir string) bool {
	f, err := os.CreateTemp(dir, "pgtest-probe-")
	if err != nil {
		return false
	}
	f.Close()
	os.Remove(f.Name())
	return true
}

// ownerFile holds the pid of the test binary that owns a cluster directory.
const ownerFile = "owner.pid"

// sweep removes the cluster directories of test binaries that died without
// stopping their cluster (killed by a timeout, say). Their postgres went
// down with them (see sysProcAttr); only the files are left.
func sweep(base string) {
	dirs, _ := filepath.Glob(filepath.Join(base, "pgtest-*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, ownerFile))
		if err != nil {
			continue // not ours, or still being set up
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		_ = os.RemoveAll(d)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// libGlob matches the bin directories of Debian's and Ubuntu's packages.
var libGlob = "/usr/lib/postgresql/*/bin"

// findBinaries returns the paths of initdb and postgres: from PATH when
// both are there, else from the highest version under /usr/lib/postgresql
// (where Debian and Ubuntu install them, off PATH).
func findBinaries() (initdb, postgres string, err error) {
	initdb, err1 := exec.LookPath("initdb")
	postgres, err2 := exec.LookPath("postgres")
	if err1 == nil && err2 == nil {
		return initdb, postgres, nil
	}
	dirs, _ := filepath.Glob(libGlob)
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		initdb, postgres = filepath.Join(d, "initdb"), filepath.Join(d, "postgres")
		if isExecutable(initdb) && isExecutable(postgres) {
			return initdb, postgres, nil
		}
	}
	return "", "", errNoBinaries
}

// versionOf turns /usr/lib/postgresql/<v>/bin into a sortable number:
// 9.6 -> 9006, 16 -> 16000.
func versionOf(binDir string) int {
	v := filepath.Base(filepath.Dir(binDir))
	major, minor, _ := strings.Cut(v, ".")
	a, _ := strconv.Atoi(major)
	b, _ := strconv.Atoi(minor)
	return a*1000 + b
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// runAs returns the process attributes for initdb and postgres. As root,
// they run as the postgres user (or nobody), which then owns dir.
func runAs(dir string) (func() *syscall.SysProcAttr, error) {
	if os.Geteuid() != 0 {
		return func() *syscall.SysProcAttr { return sysProcAttr(nil) }, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		if u, err = user.Lookup("nobody"); err != nil {
			return nil, errors.New("running as root, and there is neither a postgres nor a nobody user to run Postgres as")
		}
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("user %s has a non-numeric uid or gid", u.Username)
	}
	err = filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, int(uid), int(gid))
	})
	if err != nil {
		return nil, err
	}
	cred := &credential{uid: uint32(uid), gid: uint32(gid)}
	return func() *syscall.SysProcAttr { return sysProcAttr(cred) }, nil
}

// credential is the user a process runs as.
type credential struct{ uid, gid uint32 }
