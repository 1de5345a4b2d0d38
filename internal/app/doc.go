// Package app wires the components into runnable processes: the control
// plane, and the all-in-one dev stack. cmd/pubsub parses flags into these
// configs; end-to-end tests run the same types on port 0.
package app
