// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2023 mochi-mqtt, mochi-co
// SPDX-FileContributor: mochi-co

package mqtt

import (
	"sort"
	"sync"
	"sync/atomic"

	"github.com/mochi-mqtt/server/v2/packets"
)

// Inflight holds a client's unfinished QoS 1 and 2 flows.
//
// Fork: the flows the server started (its PUBLISH and PUBREL packets) and
// the flows the client started (the PUBACK, PUBREC and PUBCOMP the server
// answered with) are kept apart, because MQTT gives each direction its own
// packet identifiers: a client publishing with id 5 must not touch the
// server's delivery with id 5. Get and Delete address the server's flows;
// GetInbound and DeleteInbound the client's. Set files a packet by its type.
//
// Fork: outbound flow control. A delivery is either sent, and holds one
// unit of the client's send quota (its Receive Maximum) until its PUBACK or
// PUBCOMP, or held, waiting in order for a unit to come free. Deleting a
// sent delivery gives its unit back.
type Inflight struct {
	sync.RWMutex
	internal            map[uint16]packets.Packet // the server's flows: PUBLISH and PUBREL, by packet id
	inbound             map[uint16]packets.Packet // the client's flows: the acks the server sent, by packet id
	order               map[uint16]uint64         // when each of the server's flows began, for resending in order
	held                []uint16                  // deliveries waiting for send quota, oldest first
	seq                 uint64                    // the last value given out in order
	receiveQuota        int32                     // remaining inbound qos quota for flow control
	sendQuota           int32                     // remaining outbound qos quota for flow control
	maximumReceiveQuota int32                     // maximum allowed receive quota
	maximumSendQuota    int32                     // maximum allowed send quota
}

// NewInflights returns a new instance of an Inflight packets map.
func NewInflights() *Inflight {
	return &Inflight{
		internal: map[uint16]packets.Packet{},
		inbound:  map[uint16]packets.Packet{},
		order:    map[uint16]uint64{},
	}
}

// isInbound reports whether a packet belongs to a flow the client started.
func isInbound(pk packets.Packet) bool {
	switch pk.FixedHeader.Type {
	case packets.Puback, packets.Pubrec, packets.Pubcomp:
		return true
	}
	return false
}

// Set adds or updates an inflight packet by packet id, in the map of its
// direction. It returns true if the packet id was new there.
func (i *Inflight) Set(m packets.Packet) bool {
	i.Lock()
	defer i.Unlock()

	if isInbound(m) {
		_, ok := i.inbound[m.PacketID]
		i.inbound[m.PacketID] = m
		return !ok
	}

	_, ok := i.internal[m.PacketID]
	i.internal[m.PacketID] = m
	if !ok {
		i.seq++
		i.order[m.PacketID] = i.seq
	}
	return !ok
}

// Get returns one of the server's flows by packet id.
func (i *Inflight) Get(id uint16) (packets.Packet, bool) {
	i.RLock()
	defer i.RUnlock()

	m, ok := i.internal[id]
	return m, ok
}

// GetInbound returns one of the client's flows by packet id.
func (i *Inflight) GetInbound(id uint16) (packets.Packet, bool) {
	i.RLock()
	defer i.RUnlock()

	m, ok := i.inbound[id]
	return m, ok
}

// Len returns the number of unfinished flows in both directions.
func (i *Inflight) Len() int {
	i.RLock()
	defer i.RUnlock()
	return len(i.internal) + len(i.inbound)
}

// OutboundLen returns the number of the server's unfinished flows, sent or held.
func (i *Inflight) OutboundLen() int {
	i.RLock()
	defer i.RUnlock()
	return len(i.internal)
}

// Clone returns a new instance of Inflight with the same message data.
// This is used when transferring inflights from a taken-over session.
// The quotas are not copied: they belong to the new connection.
func (i *Inflight) Clone() *Inflight {
	c := NewInflights()
	i.RLock()
	defer i.RUnlock()
	for k, v := range i.internal {
		c.internal[k] = v
	}
	for k, v := range i.inbound {
		c.inbound[k] = v
	}
	for k, v := range i.order {
		c.order[k] = v
	}
	c.held = append(c.held, i.held...)
	c.seq = i.seq
	return c
}

// GetAll returns the unfinished flows: the server's, oldest first, then
// the client's. With immediate, only the held deliveries, oldest first.
func (i *Inflight) GetAll(immediate bool) []packets.Packet {
	i.RLock()
	defer i.RUnlock()

	m := []packets.Packet{}
	if immediate {
		for _, id := range i.held {
			if pk, ok := i.internal[id]; ok {
				m = append(m, pk)
			}
		}
		return m
	}

	for _, v := range i.internal {
		m = append(m, v)
	}
	sort.Slice(m, func(a, b int) bool {
		return i.order[m[a].PacketID] < i.order[m[b].PacketID]
	})
	for _, v := range i.inbound {
		m = append(m, v)
	}

	return m
}

// admit decides whether a delivery just Set may be sent now. It may when
// the client applies no flow control, or when nothing is held before it
// and a unit of send quota is free, which it then takes. Otherwise the
// delivery is held, behind any held before it.
func (i *Inflight) admit(id uint16) bool {
	i.Lock()
	defer i.Unlock()

	if atomic.LoadInt32(&i.maximumSendQuota) == 0 {
		return true
	}
	if len(i.held) == 0 && i.takeSendQuota() {
		return true
	}
	i.held = append(i.held, id)
	return false
}

// NextImmediate takes the oldest held delivery if a unit of send quota is
// free (or the client applies no flow control), taking the unit with it;
// the delivery stays inflight until its ack.
func (i *Inflight) NextImmediate() (packets.Packet, bool) {
	i.Lock()
	defer i.Unlock()

	for len(i.held) > 0 {
		pk, ok := i.internal[i.held[0]]
		if !ok { // deleted while held
			i.held = i.held[1:]
			continue
		}
		if atomic.LoadInt32(&i.maximumSendQuota) > 0 && !i.takeSendQuota() {
			break
		}
		i.held = i.held[1:]
		return pk, true
	}
	if len(i.held) == 0 {
		i.held = nil
	}
	return packets.Packet{}, false
}

// Held returns the number of deliveries waiting for send quota.
func (i *Inflight) Held() int {
	i.RLock()
	defer i.RUnlock()
	return len(i.held)
}

// takeSendQuota takes one unit of send quota if one is free.
func (i *Inflight) takeSendQuota() bool {
	for {
		q := atomic.LoadInt32(&i.sendQuota)
		if q <= 0 {
			return false
		}
		if atomic.CompareAndSwapInt32(&i.sendQuota, q, q-1) {
			return true
		}
	}
}

// holdAll marks every one of the server's flows held, oldest first, so that
// a new connection of the session resends them within its own send quota.
func (i *Inflight) holdAll() {
	i.Lock()
	defer i.Unlock()

	i.held = i.held[:0]
	for id := range i.internal {
		i.held = append(i.held, id)
	}
	sort.Slice(i.held, func(a, b int) bool {
		return i.order[i.held[a]] < i.order[i.held[b]]
	})
}

// Delete removes one of the server's flows. A sent delivery gives its unit
// of send quota back; a held one is simply dropped. Returns true if the
// flow existed.
func (i *Inflight) Delete(id uint16) bool {
	i.Lock()
	defer i.Unlock()

	_, ok := i.internal[id]
	if !ok {
		return false
	}
	delete(i.internal, id)
	delete(i.order, id)

	for n, h := range i.held {
		if h == id {
			i.held = append(i.held[:n], i.held[n+1:]...)
			return true
		}
	}

	i.IncreaseSendQuota()
	return true
}

// DeleteInbound removes one of the client's flows. Returns true if it existed.
func (i *Inflight) DeleteInbound(id uint16) bool {
	i.Lock()
	defer i.Unlock()

	_, ok := i.inbound[id]
	delete(i.inbound, id)
	return ok
}

// DecreaseReceiveQuota reduces the receive quota by 1.
func (i *Inflight) DecreaseReceiveQuota() {
	if atomic.LoadInt32(&i.receiveQuota) > 0 {
		atomic.AddInt32(&i.receiveQuota, -1)
	}
}

// IncreaseReceiveQuota increases the receive quota by 1.
func (i *Inflight) IncreaseReceiveQuota() {
	if atomic.LoadInt32(&i.receiveQuota) < atomic.LoadInt32(&i.maximumReceiveQuota) {
		atomic.AddInt32(&i.receiveQuota, 1)
	}
}

// ResetReceiveQuota resets the receive quota to the maximum allowed value.
func (i *Inflight) ResetReceiveQuota(n int32) {
	atomic.StoreInt32(&i.receiveQuota, n)
	atomic.StoreInt32(&i.maximumReceiveQuota, n)
}

// DecreaseSendQuota reduces the send quota by 1.
func (i *Inflight) DecreaseSendQuota() {
	i.takeSendQuota()
}

// IncreaseSendQuota increases the send quota by 1, up to its maximum.
func (i *Inflight) IncreaseSendQuota() {
	for {
		q := atomic.LoadInt32(&i.sendQuota)
		if q >= atomic.LoadInt32(&i.maximumSendQuota) {
			return
		}
		if atomic.CompareAndSwapInt32(&i.sendQuota, q, q+1) {
			return
		}
	}
}

// ResetSendQuota resets the send quota to the maximum allowed value.
func (i *Inflight) ResetSendQuota(n int32) {
	atomic.StoreInt32(&i.sendQuota, n)
	atomic.StoreInt32(&i.maximumSendQuota, n)
}
