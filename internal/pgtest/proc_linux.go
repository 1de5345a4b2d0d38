package pgtest

import "syscall"

// setParentDeathSignal asks the kernel to send SIGINT, Postgres's fast
// shutdown, to the child when the test binary exits without stopping it
// (no pgtest.Main, a timeout, a crash): the server shuts down cleanly and
// the next cluster start sweeps its directory.
func setParentDeathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGINT }
