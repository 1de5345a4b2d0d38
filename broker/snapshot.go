package broker

import (
	"encoding/base64"
	"time"

	"github.com/openpubsub/pubsub/pkg/feed"
)

// Snapshot returns the State as a snapshot event: what a node writes to its
// disk cache, so that NewState(s.Snapshot()) serves the same brokers once
// feed.SecretBox.OpenSecrets has opened its self-signed keys' secrets,
// which it holds only sealed as the feed sent them, and its TLS ticket keys. Key states are not
// kept (a node verifies with every key alike), and neither are
// revocations of tokens that expired before now (Unix seconds).
func (s *State) Snapshot(now int64) feed.Event {
	ev := feed.Event{Type: feed.TypeSnapshot, Revision: s.Revision(), Brokers: make([]feed.Broker, 0, s.Len())}
	if tk := s.TicketKeys(); tk != nil {
		ev.TicketKeys = append([]feed.HMACKey(nil), tk.sealed...)
	}
	for b := range s.Brokers() {
		fb := feed.Broker{
			ID: b.ID, Name: b.Name, Namespace: b.Namespace, Hostname: b.Hostname,
			Expiration: int64(b.Expiration.Seconds()), OnPublishURL: b.OnPublishURL,
			Keys: make([]feed.Key, 0, len(b.Keys)), Revocations: make([]feed.Revocation, 0, len(b.revoked)),
		}
		for kid, pub := range b.Keys {
			fb.Keys = append(fb.Keys, feed.Key{ID: kid, X: base64.RawURLEncoding.EncodeToString(pub)})
		}
		if b.SelfSigned != nil {
			fb.SelfSignedTokens, fb.FastlyWildcards = true, b.FastlyWildcards
			fb.SelfSignedLeeway = int64(b.SelfSignedLeeway / time.Second)
			for kid := range b.SelfSigned {
				// The secret stays sealed on disk; the node opens it
				// with its token when it loads the cache.
				fb.HMACKeys = append(fb.HMACKeys, feed.HMACKey{ID: kid, Sealed: b.sealed[kid]})
			}
		}
		if b.HookKey != nil {
			fb.HookKey = &feed.HMACKey{ID: b.HookKID, Sealed: b.sealedHook}
			fb.OnPublish = b.OnPublish
		}
		for jti, exp := range b.revoked {
			if exp == 0 || exp > now {
				fb.Revocations = append(fb.Revocations, feed.Revocation{JTI: jti, ExpiresAt: exp})
			}
		}
		ev.Brokers = append(ev.Brokers, fb)
	}
	return ev
}
