package broker

// List returns the sessions in the index, in no order, for an operator's
// listing of connected clients. The lock is held only to copy them.
func (x *Sessions) List() []Session {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make([]Session, 0, len(x.all))
	for s := range x.all {
		out = append(out, s)
	}
	return out
}
