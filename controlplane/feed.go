package controlplane

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"time"

	"github.com/openpubsub/pubsub/pkg/feed"
	"github.com/openpubsub/pubsub/pkg/token"
)

// feedBatch is how many changes the feed reads per query.
const feedBatch = 500

// StreamFeed sends the config feed to one broker node: a snapshot when the
// node has no usable revision, then every change after it, in revision
// order, as changes commit. It returns when ctx ends or emit fails.
//
// The change rows only say what changed; each event carries the current
// state of that thing, so a node that applies events in order converges.
func (s *Service) StreamFeed(ctx context.Context, after int64, emit func(*feed.Event) error) error {
	oldest, err := s.store.OldestRevision(ctx)
	if err != nil {
		return err
	}
	if after > 0 && (oldest == 0 || after >= oldest) {
		// The node's revision must be one this feed wrote; if it is not
		// (the database was restored from an older backup, or the node
		// followed another control plane), its state cannot be patched.
		cs, err := s.store.ListChanges(ctx, after-1, 1)
		if err != nil {
			return err
		}
		if len(cs) == 0 || cs[0].Revision != after {
			s.log.Warn("a node asked for changes after a revision this feed never wrote; sending a snapshot", "after", after)
			after = 0
		}
	}
	if after <= 0 || (oldest > 0 && after < oldest-1) {
		snap, err := s.store.Snapshot(ctx, s.now())
		if err != nil {
			return err
		}
		ev := &feed.Event{Type: feed.TypeSnapshot, Revision: snap.Revision, Brokers: make([]feed.Broker, 0, len(snap.Brokers))}
		for _, b := range snap.Brokers {
			ev.Brokers = append(ev.Brokers, s.feedBroker(b))
		}
		// Read after the snapshot: a rotation that commits in between
		// has a later revision, and its event follows.
		if ev.TicketKeys, err = s.feedTicketKeys(ctx); err != nil {
			return err
		}
		if err := emit(ev); err != nil {
			return err
		}
		after = snap.Revision
	}
	ping := time.NewTicker(feed.PingInterval)
	defer ping.Stop()
	for {
		// Take the wait channel before reading, so a change that commits
		// between the read and the wait still wakes us.
		wake := s.changes.Wait()
		changes, err := s.store.ListChanges(ctx, after, feedBatch)
		if err != nil {
			return err
		}
		for _, c := range changes {
			ev, err := s.feedEvent(ctx, c)
			if err != nil {
				return err
			}
			if ev != nil {
				if err := emit(ev); err != nil {
					return err
				}
			}
			after = c.Revision
		}
		if len(changes) == feedBatch {
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
		case <-ping.C:
			if err := emit(&feed.Event{Type: feed.TypePing, Revision: after}); err != nil {
				return err
			}
		}
	}
}

// feedEvent turns a change row into the event that carries its current
// state; nil for changes nodes do not need (namespaces).
func (s *Service) feedEvent(ctx context.Context, c *Change) (*feed.Event, error) {
	switch c.Kind {
	case ChangeBroker, ChangeKeys:
		st, err := s.store.FindBrokerState(ctx, c.BrokerID, s.now())
		if ErrorCode(err) == ENOTFOUND {
			return &feed.Event{Type: feed.TypeBrokerDeleted, Revision: c.Revision, BrokerID: c.BrokerID}, nil
		} else if err != nil {
			return nil, err
		}
		b := s.feedBroker(st)
		return &feed.Event{Type: feed.TypeBroker, Revision: c.Revision, Broker: &b}, nil
	case ChangeRevocation:
		r, err := s.store.FindRevocation(ctx, c.BrokerID, c.JTI)
		if ErrorCode(err) == ENOTFOUND {
			return &feed.Event{Type: feed.TypeUnrevoked, Revision: c.Revision, BrokerID: c.BrokerID, Revocation: &feed.Revocation{JTI: c.JTI}}, nil
		} else if err != nil {
			return nil, err
		}
		rev := feedRevocation(r)
		return &feed.Event{Type: feed.TypeRevoked, Revision: c.Revision, BrokerID: c.BrokerID, Revocation: &rev}, nil
	case ChangeTicketKeys:
		keys, err := s.feedTicketKeys(ctx)
		if err != nil {
			return nil, err
		}
		return &feed.Event{Type: feed.TypeTicketKeys, Revision: c.Revision, TicketKeys: keys}, nil
	}
	return nil, nil
}

// feedBroker is the wire form of a broker's state for nodes: public keys,
// and the secrets of self-signed keys when the broker enables them, which
// the caller must seal (feed.SecretBox) before they leave the process.
func (s *Service) feedBroker(st *BrokerState) feed.Broker {
	b := st.Broker
	out := feed.Broker{
		ID: b.ID, Name: b.Name, Namespace: b.NamespaceName, Hostname: b.Hostname(s.cfg.Domain), OnPublishURL: b.OnPublishURL,
		Keys: make([]feed.Key, len(st.Keys)), Revocations: make([]feed.Revocation, len(st.Revocations)),
	}
	if exp := ClampExpiration(b.Expiration); exp != nil {
		out.Expiration = *exp
	}
	for i, k := range st.Keys {
		out.Keys[i] = feed.Key{ID: k.ID, X: base64.RawURLEncoding.EncodeToString(k.PublicKey), State: k.State}
	}
	for i, r := range st.Revocations {
		out.Revocations[i] = feedRevocation(r)
	}
	if b.OnPublishURL != "" {
		// The node signs the hook requests of the messages it admits.
		priv := s.sealer.HookKey(b.ID)
		out.HookKey = &feed.HMACKey{ID: token.Thumbprint(priv.Public().(ed25519.PublicKey)), Secret: priv.Seed()}
		if o := b.OnPublish; !o.IsZero() {
			out.OnPublish = &feed.OnPublish{Filters: o.Filters, Timeout: int64(o.Timeout), OnFailure: o.OnFailure, Mode: o.Mode}
		}
	}
	if b.SelfSignedTokens {
		// Secrets in the clear go no further than the feed handler,
		// which seals them for the node it writes to.
		out.SelfSignedTokens, out.FastlyWildcards = true, b.FastlyWildcards
		out.SelfSignedLeeway = int64(s.cfg.SelfSignedLeeway / time.Second)
		for i, secret := range s.openHMACKeys(st) {
			if secret != nil {
				out.HMACKeys = append(out.HMACKeys, feed.HMACKey{ID: st.HMACKeys[i].ID, Secret: secret})
			}
		}
	}
	return out
}

func feedRevocation(r *Revocation) feed.Revocation {
	out := feed.Revocation{JTI: r.JTI}
	if r.ExpiresAt != nil {
		out.ExpiresAt = r.ExpiresAt.Unix()
	}
	return out
}
