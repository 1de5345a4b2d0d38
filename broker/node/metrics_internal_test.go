package node

import (
	"slices"
	"testing"
)

// TestReasonsCounted: every reason MQTT can answer with (mqttCodes) is a
// label of the refusals or of the disconnections, so none goes uncounted
// (self_signed_changed once did), and each list fits its counters.
func TestReasonsCounted(t *testing.T) {
	for r := range mqttCodes {
		if !slices.Contains(refusalReasons, r) && !slices.Contains(disconnectReasons, r) {
			t.Errorf("reason %s is counted neither as a refusal nor as a disconnection", r)
		}
	}
	for _, list := range [][]string{toStrings(refusalReasons), toStrings(disconnectReasons), toStrings(offlineDropReasons)} {
		if len(list) > maxReasons {
			t.Errorf("%d reasons, more than maxReasons", len(list))
		}
		sorted := slices.Clone(list)
		slices.Sort(sorted)
		if len(slices.Compact(sorted)) != len(list) {
			t.Errorf("a reason is listed twice in %v", list)
		}
	}
}

func toStrings[T ~string](in []T) []string {
	out := make([]string, len(in))
	for i, v := range in {
		out[i] = string(v)
	}
	return out
}
