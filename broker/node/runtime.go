package node

import (
	"bufio"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
)

// runtimeSamples are read with runtime/metrics, which, unlike
// runtime.ReadMemStats, does not stop the world: /metrics may be scraped
// while the node carries its full load.
var runtimeSamples = []string{
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/unused:bytes",
	"/memory/classes/total:bytes",
	"/sched/goroutines:goroutines",
	"/memory/classes/heap/stacks:bytes",
}

// writeRuntimeMetrics writes the process's memory and goroutine gauges,
// under the names Prometheus' Go and process collectors give them, so
// existing dashboards and the benchmark suite read them as they are.
func writeRuntimeMetrics(w *bufio.Writer) {
	s := make([]metrics.Sample, len(runtimeSamples))
	for i, name := range runtimeSamples {
		s[i].Name = name
	}
	metrics.Read(s)
	u := func(i int) int64 {
		if s[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return int64(s[i].Value.Uint64())
	}
	family(w, "go_memstats_heap_inuse_bytes", "gauge", "Bytes in in-use heap spans.")
	sample(w, "go_memstats_heap_inuse_bytes", "", "", u(0)+u(1))
	family(w, "go_memstats_sys_bytes", "gauge", "Bytes of memory the Go runtime has mapped.")
	sample(w, "go_memstats_sys_bytes", "", "", u(2))
	family(w, "go_memstats_stack_inuse_bytes", "gauge", "Bytes in goroutine stacks.")
	sample(w, "go_memstats_stack_inuse_bytes", "", "", u(4))
	family(w, "go_goroutines", "gauge", "Goroutines that currently exist.")
	sample(w, "go_goroutines", "", "", u(3))
	if rss, ok := residentBytes(); ok {
		family(w, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.")
		sample(w, "process_resident_memory_bytes", "", "", rss)
	}
	// A node is sized by file descriptors (one per connection): these say
	// how close it is to its limit.
	if open, max, ok := fileDescriptors(); ok {
		family(w, "process_open_fds", "gauge", "Number of open file descriptors.")
		sample(w, "process_open_fds", "", "", open)
		family(w, "process_max_fds", "gauge", "Maximum number of open file descriptors.")
		sample(w, "process_max_fds", "", "", max)
	}
}

// residentBytes reads the process's resident set from /proc/self/statm
// (Linux only).
func residentBytes() (int64, bool) {
	if runtime.GOOS != "linux" {
		return 0, false
	}
	raw, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(raw))
	if len(f) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0, false
	}
	return pages * int64(os.Getpagesize()), true
}

// handlePprof adds the runtime profiles to the ops server. The ops
// address is private (it already shows every broker's traffic), and a
// profile costs nothing until someone asks for one; it is how the
// benchmark figures in docs/ were explained.
func handlePprof(mux *http.ServeMux) {
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}
