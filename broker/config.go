package broker

import "context"

// ConfigSource is where a node's States come from. The fleet client
// (broker/fleet) implements it against the control plane's config feed
// and a disk cache; tests build States by hand and apply them directly.
type ConfigSource interface {
	// Run calls apply with each new State, in order, until ctx ends or
	// the source fails for good. The first call should come as soon as
	// the source has any State (for instance from its disk cache), since
	// a node is not ready before it. apply must not be called
	// concurrently with itself; it returns quickly, as it only swaps a
	// pointer and schedules enforcement. Run returns ctx.Err() when ctx
	// ends, or the error that made it give up.
	Run(ctx context.Context, apply func(*State)) error
}
