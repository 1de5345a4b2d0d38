// Package onpublish calls a broker's on-publish hook: the HTTPS endpoint
// (a Cloudflare Worker, say) that sees each message published to the
// broker before any subscriber does, and decides what subscribers get.
//
// It owns the wire format Cloudflare's Pub/Sub defined (a JSON array of
// messages, POSTed with an Ed25519 signature over the timestamp and the
// body; the answer is the array of messages to deliver), the batching of
// messages that arrive together into one request, the bounded number of
// requests in flight per broker, and what a failure does (on_failure).
// It knows nothing of MQTT: broker/node hands it a Message and applies
// the Result.
//
// Back-pressure is by blocking: Hook.Publish returns only with the
// verdict, and the node calls it on the publishing client's read
// goroutine, so a slow hook stops the reading of its publishers' sockets
// (and keeps each client's order), while the queue and the requests in
// flight stay bounded. Each broker has its own Hook: one broker's slow
// hook never delays another's.
package onpublish
