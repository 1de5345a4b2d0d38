package node

import (
	"bufio"
	"strconv"
	"strings"
	"testing"
)

func TestRuntimeMetrics(t *testing.T) {
	var b strings.Builder
	w := bufio.NewWriter(&b)
	writeRuntimeMetrics(w)
	w.Flush()
	for _, name := range []string{"go_memstats_heap_inuse_bytes", "go_goroutines", "process_resident_memory_bytes", "process_open_fds", "process_max_fds"} {
		var found bool
		for _, line := range strings.Split(b.String(), "\n") {
			if v, ok := strings.CutPrefix(line, name+" "); ok {
				found = true
				if n, err := strconv.ParseInt(v, 10, 64); err != nil || n <= 0 {
					t.Errorf("%s = %q, want a positive integer", name, v)
				}
			}
		}
		if !found {
			t.Errorf("no %s sample in\n%s", name, b.String())
		}
	}
}
