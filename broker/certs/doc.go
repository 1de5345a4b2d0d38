// Package certs owns the TLS server certificates of a broker node: it picks
// the certificate for each handshake from the client's SNI name.
//
// Broker hostnames have the form <broker>.<namespace>.<domain>, so a node
// serving many namespaces needs many certificates, usually one wildcard
// *.<namespace>.<domain> per namespace. The node decides whether a hostname
// names a known broker; this package only answers "which certificate, if
// any, proves this name". Two [Source] implementations exist:
//
//   - [Dir] serves production certificates from a directory of PEM files
//     and reloads them when the files change, without a restart.
//   - [DevCA] is a throwaway local certificate authority for `pubsub dev`
//     that issues leaf certificates on demand.
//
// [ServerTLSConfig] turns either into a *tls.Config.
//
// # Directory layouts
//
// [OpenDir] reads the regular files (or symlinks to them) directly in one
// directory; subdirectories and names starting with "." are skipped. It
// accepts these layouts, and any mix of them:
//
//	<name>.crt + <name>.key           the usual pair (also tls.crt + tls.key,
//	                                  as Kubernetes mounts a TLS secret)
//	<name>.pem + <name>-key.pem       the pair as mkcert writes it
//	<name>.pem                        one file holding the chain and the key
//	fullchain.pem + privkey.pem       a certbot live/<domain>/ directory
//	                                  (its cert.pem and chain.pem are ignored)
//
// Certificate files hold the leaf first, then any intermediates. Files with
// other extensions are ignored, so a README or a .csr can stay in place.
//
// Each certificate is indexed by its DNS subject alternative names, or by its
// subject common name when it has none. A lookup tries the exact name, then
// the wildcard one level up: *.ns.example.com matches b.ns.example.com but
// neither ns.example.com nor a.b.ns.example.com (RFC 6125, section 6.4.3).
// Names compare case-insensitively. When two certificates claim the same
// name, the one that expires last wins, so that during a rotation the new
// certificate is served as soon as it is present.
package certs
