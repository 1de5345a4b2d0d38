// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2023 mochi-mqtt, mochi-co
// SPDX-FileContributor: mochi-co

package mqtt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/xid"

	"github.com/mochi-mqtt/server/v2/mempool"
	"github.com/mochi-mqtt/server/v2/packets"
)

const (
	defaultKeepalive             uint16 = 10 // the default connection keepalive value in seconds.
	defaultClientProtocolVersion byte   = 4  // the default mqtt protocol version of connecting clients (if somehow unspecified).
	minimumKeepalive             uint16 = 5  // the minimum recommended keepalive - values under with display a warning.
)

var (
	ErrMinimumKeepalive = errors.New("client keepalive is below minimum recommended value and may exhibit connection instability")
)

// ReadFn is the function signature for the function used for reading and processing new packets.
type ReadFn func(*Client, packets.Packet) error

// Clients contains a map of the clients known by the broker.
type Clients struct {
	internal map[string]*Client // clients known by the broker, keyed on client id.
	sync.RWMutex
}

// NewClients returns an instance of Clients.
func NewClients() *Clients {
	return &Clients{
		internal: make(map[string]*Client),
	}
}

// Add adds a new client to the clients map, keyed on client id.
func (cl *Clients) Add(val *Client) {
	cl.Lock()
	defer cl.Unlock()
	cl.internal[val.ID] = val
}

// GetAll returns all the clients.
func (cl *Clients) GetAll() map[string]*Client {
	cl.RLock()
	defer cl.RUnlock()
	m := map[string]*Client{}
	for k, v := range cl.internal {
		m[k] = v
	}
	return m
}

// matching returns the clients for which keep is true (fork): the
// housekeeping that visits every client each second takes only those it
// has work for, rather than a copy of the whole map (GetAll), which at
// tens of thousands of idle clients was most of an idle server's garbage.
// keep runs under the map's read lock.
func (cl *Clients) matching(keep func(*Client) bool) []*Client {
	cl.RLock()
	defer cl.RUnlock()
	var out []*Client
	for _, v := range cl.internal {
		if keep(v) {
			out = append(out, v)
		}
	}
	return out
}

// Get returns the value of a client if it exists.
func (cl *Clients) Get(id string) (*Client, bool) {
	cl.RLock()
	defer cl.RUnlock()
	val, ok := cl.internal[id]
	return val, ok
}

// Len returns the length of the clients map.
func (cl *Clients) Len() int {
	cl.RLock()
	defer cl.RUnlock()
	val := len(cl.internal)
	return val
}

// Delete removes a client from the internal map.
func (cl *Clients) Delete(id string) {
	cl.Lock()
	defer cl.Unlock()
	delete(cl.internal, id)
}

// GetByListener returns clients matching a listener id.
func (cl *Clients) GetByListener(id string) []*Client {
	cl.RLock()
	defer cl.RUnlock()
	clients := make([]*Client, 0, cl.Len())
	for _, client := range cl.internal {
		if client.Net.Listener == id && !client.Closed() {
			clients = append(clients, client)
		}
	}
	return clients
}

// Client contains information about a client known by the broker.
type Client struct {
	Properties   ClientProperties // client properties
	State        ClientState      // the operational state of the client.
	Net          ClientConnection // network connection state of the client
	ID           string           // the client id.
	ops          *ops             // ops provides a reference to server ops.
	idleLinger   time.Duration    // fork: how long Read waits before it returns errSessionIdle; 0: forever
	deadline     time.Time        // fork: the connection's deadlines, when deadlineSet (see refreshDeadline)
	deadlineSet  bool
	lastWait     time.Duration // fork: when read last began to wait for a packet, since readEpoch (see busy)
	streak       uint8         // fork: how many of the last waits began within busyGap of the one before
	sync.RWMutex               // guards the packet id counter only (fork: no longer held across writes)

	// Fork: the write side. The socket is written under wgate, never
	// under the client's lock, and each write has a deadline of its own
	// (Options.WriteTimeout) rather than the keepalive's.
	wgate        writeGate
	wdeadline    time.Time    // the write deadline in force; guarded by wgate
	wbounded     bool         // wdeadline is a DISCONNECT's, not to be moved; guarded by wgate
	writingSince atomic.Int64 // when the socket write in progress began, in Unix ns; 0 for none
	stuck        atomic.Bool  // a write timed out or could not begin: see Stop

	// checkDeliveries (fork) is set when the client inherited a
	// subscription its own credentials would not be granted: with
	// Options.ACLCoversFilters, only such a client's deliveries are checked.
	checkDeliveries bool

	// parkID (fork) is the client's session's id in the idle poller while
	// it is parked there, else 0 (see session.park).
	parkID atomic.Uint64

	// Counters (fork) are this connection's PUBLISH packets, counted where
	// the server's Info counts them.
	Counters ClientCounters
}

// ClientCounters (fork) count one connection's PUBLISH packets: decoded
// from the client, and written to it. A client that takes over a
// session starts from zero.
type ClientCounters struct {
	MessagesReceived atomic.Int64
	MessagesSent     atomic.Int64
}

// ClientConnection contains the connection transport and metadata for the client.
type ClientConnection struct {
	Conn     net.Conn      // the net.Conn used to establish the connection
	bconn    *packetReader // a buffered net.Conn for reading packets (fork: buffered only while there is something to read)
	outbuf   *bytes.Buffer // a buffer for writing packets
	Remote   string        // the remote address of the client
	Listener string        // listener id of the client
	Inline   bool          // if true, the client is the built-in 'inline' embedded client
}

// ClientProperties contains the properties which define the client behaviour.
type ClientProperties struct {
	Props           packets.Properties
	Will            Will
	Username        []byte
	ProtocolVersion byte
	Clean           bool
}

// Will contains the last will and testament details for a client connection.
type Will struct {
	Payload           []byte                 // -
	User              []packets.UserProperty // -
	TopicName         string                 // -
	Flag              uint32                 // 0,1
	WillDelayInterval uint32                 // -
	Qos               byte                   // -
	Retain            bool                   // -
}

// ClientState tracks the state of the client.
type ClientState struct {
	TopicAliases    TopicAliases       // a map of topic aliases
	stopCause       atomic.Value       // reason for stopping
	Inflight        *Inflight          // a map of in-flight qos messages
	Subscriptions   *Subscriptions     // a map of the subscription filters a client maintains
	disconnected    int64              // the time the client disconnected in unix time, for calculating expiry
	outbound        outboundQueue      // queue for pending outbound packets
	endOnce         sync.Once          // only end once
	connClosed      <-chan struct{}    // fork: closed once Stop has closed the connection (see closeConn)
	isTakenOver     atomic.Bool        // used to identify orphaned clients
	packetID        uint32             // the current highest packetID
	open            context.Context    // indicate that the client is open for packet exchange
	cancelOpen      context.CancelFunc // cancel function for open context
	outboundQty     int32              // number of messages currently in the outbound queue
	Keepalive       uint16             // the number of seconds the connection can wait
	ServerKeepalive bool               // keepalive was set by the server
}

// newClient returns a new instance of Client. This is almost exclusively used by Server
// for creating new clients, but it lives here because it's not dependent.
func newClient(c net.Conn, o *ops) *Client {
	ctx, cancel := context.WithCancel(context.Background())
	cl := &Client{
		State: ClientState{
			Inflight:      NewInflights(),
			Subscriptions: NewSubscriptions(),
			TopicAliases:  NewTopicAliases(o.options.Capabilities.TopicAliasMaximum),
			open:          ctx,
			cancelOpen:    cancel,
			Keepalive:     defaultKeepalive,
		},
		Properties: ClientProperties{
			ProtocolVersion: defaultClientProtocolVersion, // default protocol version
		},
		ops: o,
	}

	if c != nil {
		cl.Net = ClientConnection{
			Conn:   c,
			bconn:  newPacketReader(c, o.options.ClientNetReadBufferSize),
			Remote: c.RemoteAddr().String(),
		}
	}

	return cl
}

// outboundQueue holds the packets waiting for a client's writer.
//
// Fork: upstream gave every client a channel of MaximumClientWritesPending
// pointers (8 KiB at the default 1,024) and a writer goroutine for its whole
// life, most of an idle connection's memory. The queue is a slice that grows
// with the backlog, and a writer goroutine runs only while the client is
// sent packets: it waits writerLinger for more once the queue is empty, then
// ends, so a busy client keeps its writer and an idle one has none.
type outboundQueue struct {
	sync.Mutex
	pks     []queued // pks[head:] wait to be written, oldest first
	head    int
	writing bool          // a writer goroutine exists
	waiting bool          // the writer waits for wake with the queue empty
	wake    chan struct{} // wakes a waiting writer; made with the first writer
}

// queued is a packet in an outbound queue: pk, or, for a plain delivery
// shared by the queues of its subscribers, sd's packet, which the queue
// holds a reference to.
type queued struct {
	pk *packets.Packet
	sd *sharedDelivery
}

// keptOutboundCap is the largest queue backing array kept for the next
// backlog once the queue is empty; larger ones are dropped.
const keptOutboundCap = 64

// writerLinger is how long a writer waits for more packets before it ends.
const writerLinger = 2 * time.Second

// defaultIdleSessionLinger is Options.IdleSessionLinger's default: a
// session that has read nothing for that long hands its wait to a waiter.
const defaultIdleSessionLinger = 2 * time.Second

// enqueue appends a packet to the client's outbound queue and starts or
// wakes its writer. Unless force is set, it refuses the packet when
// MaximumClientWritesPending packets already wait. A queued shared
// delivery sd (pk is then &sd.pk) takes a reference, which the writer
// releases once it has written it.
func (cl *Client) enqueue(pk *packets.Packet, sd *sharedDelivery, force bool) bool {
	q := &cl.State.outbound
	q.Lock()
	if !force && len(q.pks)-q.head >= int(cl.ops.options.Capabilities.MaximumClientWritesPending) {
		q.Unlock()
		return false
	}
	if sd != nil {
		sd.refs.Add(1)
	}
	q.pks = append(q.pks, queued{pk: pk, sd: sd})
	atomic.AddInt32(&cl.State.outboundQty, 1)
	start := !q.writing
	if start {
		q.writing = true
		if q.wake == nil {
			q.wake = make(chan struct{}, 1)
		}
	} else if q.waiting {
		q.waiting = false
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
	q.Unlock()
	if start {
		go cl.writeLoop()
	}
	return true
}

// writeLoop is the writer. It owns q.writing, and ends once the queue has
// stayed empty for writerLinger or the client has stopped.
func (cl *Client) writeLoop() {
	q := &cl.State.outbound
	var linger *time.Timer
	for {
		q.Lock()
		if q.head == len(q.pks) {
			if cap(q.pks) > keptOutboundCap {
				q.pks = nil
			} else {
				clear(q.pks)
				q.pks = q.pks[:0]
			}
			q.head = 0
			if cl.Closed() || !cl.waitForOutbound(&linger) {
				q.writing, q.waiting = false, false
				q.Unlock()
				return
			}
			q.Unlock()
			continue
		}
		next := q.pks[q.head]
		q.pks[q.head] = queued{}
		q.head++
		atomic.AddInt32(&cl.State.outboundQty, -1) // before the write, which flushes when nothing else waits
		q.Unlock()

		if err := cl.WritePacket(*next.pk); err != nil {
			cl.ops.log.Debug("failed publishing packet", "error", err, "client", cl.ID, "packet", next.pk)
		}
		if next.sd != nil {
			next.sd.release()
		}
	}
}

// waitForOutbound waits, with the queue lock held on entry and on return,
// until a packet is queued (true) or writerLinger passes or the client
// stops with the queue still empty (false).
func (cl *Client) waitForOutbound(linger **time.Timer) bool {
	q := &cl.State.outbound
	q.waiting = true
	q.Unlock()
	if *linger == nil {
		*linger = time.NewTimer(writerLinger)
	} else {
		(*linger).Reset(writerLinger)
	}
	select {
	case <-q.wake:
	case <-(*linger).C:
	case <-cl.State.open.Done():
	}
	q.Lock()
	q.waiting = false
	return q.head < len(q.pks)
}

// cloneUserProperties copies user properties, strings included.
func cloneUserProperties(in []packets.UserProperty) []packets.UserProperty {
	if in == nil {
		return nil
	}
	out := make([]packets.UserProperty, len(in))
	for i, u := range in {
		out[i] = packets.UserProperty{Key: strings.Clone(u.Key), Val: strings.Clone(u.Val)}
	}
	return out
}

// ParseConnect parses the connect parameters and properties for a client.
func (cl *Client) ParseConnect(lid string, pk packets.Packet) {
	cl.Net.Listener = lid

	// Fork: what the client keeps is copied out of the CONNECT's buffer
	// (the decoder's strings and byte slices point into it), so that the
	// buffer, with the password in it (the node's token, most of the
	// packet), is not held for the connection's life.
	cl.Properties.ProtocolVersion = pk.ProtocolVersion
	cl.Properties.Username = bytes.Clone(pk.Connect.Username)
	cl.Properties.Clean = pk.Connect.Clean
	cl.Properties.Props = pk.Properties.Copy(false)
	cl.Properties.Props.AuthenticationMethod = strings.Clone(cl.Properties.Props.AuthenticationMethod)
	cl.Properties.Props.User = cloneUserProperties(cl.Properties.Props.User)

	if cl.Properties.Props.ReceiveMaximum > cl.ops.options.Capabilities.MaximumInflight { // 3.3.4 Non-normative
		cl.Properties.Props.ReceiveMaximum = cl.ops.options.Capabilities.MaximumInflight
	}

	if pk.Connect.Keepalive <= minimumKeepalive {
		cl.ops.log.Warn(
			ErrMinimumKeepalive.Error(),
			"client", cl.ID,
			"keepalive", pk.Connect.Keepalive,
			"recommended", minimumKeepalive,
		)
	}

	cl.State.Keepalive = pk.Connect.Keepalive                                              // [MQTT-3.2.2-22]
	cl.State.Inflight.ResetReceiveQuota(int32(cl.ops.options.Capabilities.ReceiveMaximum)) // server receive max per client
	cl.State.Inflight.ResetSendQuota(int32(cl.Properties.Props.ReceiveMaximum))            // client receive max
	cl.State.TopicAliases.Outbound = NewOutboundTopicAliases(cl.Properties.Props.TopicAliasMaximum)

	cl.ID = strings.Clone(pk.Connect.ClientIdentifier)
	if cl.ID == "" {
		cl.ID = xid.New().String() // [MQTT-3.1.3-6] [MQTT-3.1.3-7]
		cl.Properties.Props.AssignedClientID = cl.ID
	}

	if pk.Connect.WillFlag {
		cl.Properties.Will = Will{
			Qos:               pk.Connect.WillQos,
			Retain:            pk.Connect.WillRetain,
			Payload:           bytes.Clone(pk.Connect.WillPayload),
			TopicName:         strings.Clone(pk.Connect.WillTopic),
			WillDelayInterval: pk.Connect.WillProperties.WillDelayInterval,
			User:              cloneUserProperties(pk.Connect.WillProperties.User),
		}
		if pk.Properties.SessionExpiryIntervalFlag &&
			pk.Properties.SessionExpiryInterval < pk.Connect.WillProperties.WillDelayInterval {
			cl.Properties.Will.WillDelayInterval = pk.Properties.SessionExpiryInterval
		}
		if pk.Connect.WillFlag {
			cl.Properties.Will.Flag = 1 // atomic for checking
		}
	}
}

// refreshDeadline refreshes the read deadline for the net.Conn connection
// (fork: upstream set the write deadline too; writes have their own, see
// writeToSocket).
//
// Fork: upstream set the deadlines for every packet read, two timer
// updates each time. The deadline is now set deadlineSlack past the
// keepalive's, and set again only once the keepalive's has moved past it:
// at most once per deadlineSlack, and a silent client is cut off at most
// deadlineSlack late. It returns the deadline in force.
func (cl *Client) refreshDeadline(keepalive uint16) time.Time {
	var expiry time.Time // nil time can be used to disable deadline if keepalive = 0
	if keepalive > 0 {
		expiry = time.Now().Add(time.Duration(keepalive+(keepalive/2)) * time.Second) // [MQTT-3.1.2-22]
		// A deadline is set (non-zero) and still late enough.
		if !cl.deadline.IsZero() && !cl.deadline.Before(expiry) {
			return cl.deadline
		}
		expiry = expiry.Add(deadlineSlack)
	} else if cl.deadlineSet && cl.deadline.IsZero() {
		return expiry
	}

	if cl.Net.Conn != nil {
		_ = cl.Net.Conn.SetReadDeadline(expiry) // [MQTT-3.1.2-22]
		cl.deadline, cl.deadlineSet = expiry, true
	}
	return expiry
}

// deadlineSlack is how far past the keepalive's deadline refreshDeadline
// sets the connection's.
const deadlineSlack = time.Second

// errSessionIdle ends Read when the client has sent nothing for its
// idleLinger (see Server.ServeConnection).
var errSessionIdle = errors.New("session idle")

// A client is busy once busyStreak waits in a row for its next packet
// began within busyGap of the one before: at 200 packets a second or more.
const (
	busyGap    = 5 * time.Millisecond
	busyStreak = 8
)

// readEpoch is the origin of Client.lastWait, on the monotonic clock.
var readEpoch = time.Now()

// busy records that read begins to wait for the next packet at the given
// time, and reports whether the client is busy. A busy client's next
// packet is waited for in a plain read, still without a buffer, but
// without awaitPacket's two deadline updates: those were 7% of the node's
// CPU in the 100-pairs flood. A client that goes quiet while busy keeps its goroutine until
// its next packet (a PINGREQ within its keepalive at the latest), after
// which it is no longer busy and its wait is handed over as usual.
func (cl *Client) busy(at time.Time) bool {
	now := at.Sub(readEpoch)
	if cl.lastWait > 0 && now-cl.lastWait < busyGap {
		cl.streak = min(cl.streak+1, busyStreak)
	} else {
		cl.streak = 0
	}
	cl.lastWait = now
	return cl.streak >= busyStreak
}

// awaitPacket waits up to the client's idleLinger from now for the first
// byte of its next packet, which it keeps in the reader, or returns
// errSessionIdle.
// The connection's read deadline is back at expiry (the keepalive's) on
// return. A keepalive deadline before the linger's end is left to the read.
// A read that times out leaves a TLS connection usable (crypto/tls keeps a
// partial record and does not make timeouts sticky).
func (cl *Client) awaitPacket(now, expiry time.Time) error {
	linger := now.Add(cl.idleLinger)
	if !expiry.IsZero() && !linger.Before(expiry) {
		return nil
	}
	_ = cl.Net.Conn.SetReadDeadline(linger)
	err := cl.Net.bconn.prefetch()
	_ = cl.Net.Conn.SetReadDeadline(expiry)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return errSessionIdle
	}
	return err
}

// NextPacketID returns the next available (unused) packet id for the client.
// If no unused packet ids are available, an error is returned and the client
// should be disconnected.
func (cl *Client) NextPacketID() (i uint32, err error) {
	cl.Lock()
	defer cl.Unlock()

	i = atomic.LoadUint32(&cl.State.packetID)
	started := i
	overflowed := false
	for {
		if overflowed && i == started {
			return 0, packets.ErrQuotaExceeded
		}

		if i >= cl.ops.options.Capabilities.maximumPacketID {
			overflowed = true
			i = 0
			continue
		}

		i++

		if _, ok := cl.State.Inflight.Get(uint16(i)); !ok {
			atomic.StoreUint32(&cl.State.packetID, i)
			return i, nil
		}
	}
}

// ResendInflightMessages resends a resumed session's unfinished flows on
// its new connection.
//
// Fork: the server's deliveries are resent oldest first and only as far as
// the new connection's send quota allows; the rest stay held and go out as
// acks return quota (see Server.sendHeld). Upstream resent every one at
// once, past the client's Receive Maximum, and in an order that only
// followed the second in which each was created.
func (cl *Client) ResendInflightMessages(force bool) error {
	if cl.State.Inflight.Len() == 0 {
		return nil
	}

	for _, tk := range cl.State.Inflight.GetAll(false) {
		if !isInbound(tk) {
			continue
		}
		cl.ops.hooks.OnQosPublish(cl, tk, tk.Created, 0)
		if err := cl.WritePacket(tk); err != nil {
			return err
		}

		if tk.FixedHeader.Type == packets.Puback || tk.FixedHeader.Type == packets.Pubcomp {
			if ok := cl.State.Inflight.DeleteInbound(tk.PacketID); ok {
				cl.ops.hooks.OnQosComplete(cl, tk)
				atomic.AddInt64(&cl.ops.info.Inflight, -1)
			}
		}
	}

	cl.State.Inflight.holdAll()
	for {
		tk, ok := cl.State.Inflight.NextImmediate()
		if !ok {
			return nil
		}
		if tk.FixedHeader.Type == packets.Publish {
			tk.FixedHeader.Dup = true // [MQTT-3.3.1-1] [MQTT-3.3.1-3]
		}

		cl.ops.hooks.OnQosPublish(cl, tk, tk.Created, 0)
		if err := cl.WritePacket(tk); err != nil {
			return err
		}
	}
}

// deleteInflight removes an unfinished flow in whichever direction it runs.
func (cl *Client) deleteInflight(tk packets.Packet) bool {
	if isInbound(tk) {
		return cl.State.Inflight.DeleteInbound(tk.PacketID)
	}
	return cl.State.Inflight.Delete(tk.PacketID)
}

// ClearInflights deletes all inflight messages for the client, e.g. for a disconnected user with a clean session.
func (cl *Client) ClearInflights() {
	for _, tk := range cl.State.Inflight.GetAll(false) {
		if ok := cl.deleteInflight(tk); ok {
			cl.ops.hooks.OnQosDropped(cl, tk)
			atomic.AddInt64(&cl.ops.info.Inflight, -1)
		}
	}
}

// ClearExpiredInflights deletes any inflight messages which have expired.
func (cl *Client) ClearExpiredInflights(now, maximumExpiry int64) []uint16 {
	deleted := []uint16{}
	for _, tk := range cl.State.Inflight.GetAll(false) {
		expired := tk.ProtocolVersion == 5 && tk.Expiry > 0 && tk.Expiry < now // [MQTT-3.3.2-5]

		// If the maximum message expiry interval is set (greater than 0), and the message
		// retention period exceeds the maximum expiry, the message will be forcibly removed.
		enforced := maximumExpiry > 0 && now-tk.Created > maximumExpiry

		if expired || enforced {
			if ok := cl.deleteInflight(tk); ok {
				cl.ops.hooks.OnQosDropped(cl, tk)
				atomic.AddInt64(&cl.ops.info.Inflight, -1)
				deleted = append(deleted, tk.PacketID)
			}
		}
	}

	return deleted
}

// Read reads incoming packets from the connected client and transforms them into
// packets to be handled by the packetHandler.
func (cl *Client) Read(packetHandler ReadFn) error {
	return cl.read(func(cl *Client, pk *packets.Packet) error { return packetHandler(cl, *pk) })
}

// read is Read with a handler given the packet itself (fork): the server's
// handler works on it in place, the hooks too (see InPlaceHook).
func (cl *Client) read(handle func(*Client, *packets.Packet) error) error {
	var err error

	for {
		if cl.Closed() {
			return nil
		}

		expiry := cl.refreshDeadline(cl.State.Keepalive)
		// Fork: wait for the next packet without a buffer, and hand the
		// wait over once it has been idle for idleLinger, unless the
		// client is busy.
		if cl.Net.bconn != nil && cl.Net.bconn.release() && cl.idleLinger > 0 {
			if now := time.Now(); !cl.busy(now) {
				if err := cl.awaitPacket(now, expiry); err != nil {
					return err
				}
			}
		}
		fh := new(packets.FixedHeader)
		err = cl.ReadFixedHeader(fh)
		if err != nil {
			return err
		}

		if err = cl.readAndHandle(fh, handle); err != nil {
			return err
		}
	}
}

// inPackets holds the packets read decodes into; one is cleared before it
// is put back.
//
// Fork: upstream read each packet into a value, which ReadPacket, the
// handler and processPublish passed on by copy, and the hooks' pointers
// to it (see InPlaceHook) would have moved to the heap: each of the
// packet's 800 bytes was copied about ten times per publish.
var inPackets = sync.Pool{New: func() any { return new(packets.Packet) }}

// readAndHandle reads the rest of a packet into a pooled packet and
// handles it there; the handler must not keep the pointer. Fork: split
// from read so that nothing of the packet is left in the frame that waits
// for the next one (see Server.openSession).
//
//go:noinline
func (cl *Client) readAndHandle(fh *packets.FixedHeader, handle func(*Client, *packets.Packet) error) error {
	pk := inPackets.Get().(*packets.Packet)
	err := cl.readPacket(fh, pk)
	if err == nil {
		err = handle(cl, pk) // Process inbound packet.
	}
	*pk = packets.Packet{}
	inPackets.Put(pk)
	return err
}

// Stop instructs the client to shut down all processing goroutines and disconnect.
//
// Fork: the client is marked closed, with its cause, before its connection
// is closed, so that whoever sees the connection end (the other end of a
// pipe in tests, the client's reader) also sees Closed and StopCause.
// Upstream closed the connection first.
func (cl *Client) Stop(err error) {
	cl.State.endOnce.Do(func() {
		if err != nil {
			cl.State.stopCause.Store(err)
		}

		if cl.State.cancelOpen != nil {
			cl.State.cancelOpen()
		}

		atomic.StoreInt64(&cl.State.disconnected, time.Now().Unix())

		if cl.Net.Conn != nil {
			if cl.stuck.Load() {
				// Fork: a TLS connection's Close first writes a
				// close_notify alert, for up to 5 s, unless a Write is in
				// progress; on a socket the client does not read, close
				// the connection under it instead.
				_ = innermostConn(cl.Net.Conn).Close()
				closed := make(chan struct{})
				close(closed)
				cl.State.connClosed = closed
			} else {
				cl.State.connClosed = closeConn(cl.Net.Conn) // fork: without a reset
			}
		}
	})
	// Fork: a session parked in the idle poller waits for no read to fail
	// (a closed socket just leaves the epoll set): wake it to end.
	cl.unpark()
}

// StopCause returns the reason the client connection was stopped, if any.
func (cl *Client) StopCause() error {
	if cl.State.stopCause.Load() == nil {
		return nil
	}
	return cl.State.stopCause.Load().(error)
}

// StopTime returns the the time the client disconnected in unix time, else zero.
func (cl *Client) StopTime() int64 {
	return atomic.LoadInt64(&cl.State.disconnected)
}

// Closed returns true if client connection is closed.
func (cl *Client) Closed() bool {
	return cl.State.open == nil || cl.State.open.Err() != nil
}

func (cl *Client) IsTakenOver() bool {
	return cl.State.isTakenOver.Load()
}

// ReadFixedHeader reads in the values of the next packet's fixed header.
func (cl *Client) ReadFixedHeader(fh *packets.FixedHeader) error {
	if cl.Net.bconn == nil {
		return ErrConnectionClosed
	}

	b, err := cl.Net.bconn.ReadByte()
	if err != nil {
		return err
	}

	err = fh.Decode(b)
	if err != nil {
		return err
	}

	var bu int
	fh.Remaining, bu, err = packets.DecodeLength(cl.Net.bconn)
	if err != nil {
		return err
	}

	if cl.ops.options.Capabilities.MaximumPacketSize > 0 && uint32(fh.Remaining+1) > cl.ops.options.Capabilities.MaximumPacketSize {
		return packets.ErrPacketTooLarge // [MQTT-3.2.2-15]
	}

	atomic.AddInt64(&cl.ops.info.BytesReceived, int64(bu+1))
	return nil
}

// ReadPacket reads the remaining buffer into an MQTT packet.
func (cl *Client) ReadPacket(fh *packets.FixedHeader) (packets.Packet, error) {
	pk := new(packets.Packet)
	err := cl.readPacket(fh, pk)
	return *pk, err
}

// readPacket is ReadPacket into pk, which must be zero.
func (cl *Client) readPacket(fh *packets.FixedHeader, pk *packets.Packet) error {
	atomic.AddInt64(&cl.ops.info.PacketsReceived, 1)

	pk.ProtocolVersion = cl.Properties.ProtocolVersion // inherit client protocol version for decoding
	pk.FixedHeader = *fh
	p := make([]byte, pk.FixedHeader.Remaining)
	n, err := io.ReadFull(cl.Net.bconn, p)
	if err != nil {
		return err
	}

	atomic.AddInt64(&cl.ops.info.BytesReceived, int64(n))

	// Fork: upstream decoded from a copy of p, which is already this
	// packet's own.
	px := p
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectDecode(px)
	case packets.Disconnect:
		err = pk.DisconnectDecode(px)
	case packets.Connack:
		err = pk.ConnackDecode(px)
	case packets.Publish:
		err = pk.PublishDecode(px)
		if err == nil {
			atomic.AddInt64(&cl.ops.info.MessagesReceived, 1)
			cl.Counters.MessagesReceived.Add(1)
		}
	case packets.Puback:
		err = pk.PubackDecode(px)
	case packets.Pubrec:
		err = pk.PubrecDecode(px)
	case packets.Pubrel:
		err = pk.PubrelDecode(px)
	case packets.Pubcomp:
		err = pk.PubcompDecode(px)
	case packets.Subscribe:
		err = pk.SubscribeDecode(px)
	case packets.Suback:
		err = pk.SubackDecode(px)
	case packets.Unsubscribe:
		err = pk.UnsubscribeDecode(px)
	case packets.Unsuback:
		err = pk.UnsubackDecode(px)
	case packets.Pingreq:
	case packets.Pingresp:
	case packets.Auth:
		err = pk.AuthDecode(px)
	default:
		err = fmt.Errorf("invalid packet type; %v", pk.FixedHeader.Type)
	}

	if err != nil {
		return err
	}

	// Fork: in place, which spares copies of pk. On rejection pk is what
	// the hooks before the rejecting one made of it (upstream returned it
	// as read); the callers drop it with the connection.
	return cl.ops.hooks.onPacketRead(cl, pk)
}

// writeBufs holds WritePacket's encoding buffers; one grown over 64 KiB is
// not kept.
//
// Fork: upstream encoded every packet into a new bytes.Buffer, which grew
// twice on the way to a PUBLISH's size: about an eighth of the node's CPU
// in a 1-to-1,000 fan-out, before the collector's share.
var writeBufs = mempool.NewBuffer(64 << 10)

// WritePacket encodes and writes a packet to the client. The bytes given to
// the OnPacketSent hooks are valid only during the call.
//
// Fork: the socket is written under the client's write gate, never under
// its lock (which NextPacketID takes for a publisher delivering to it),
// and with a deadline of Options.WriteTimeout: a client whose socket stays
// unwritable that long is stopped as a slow consumer and counted in
// Info.SlowConsumers. Upstream held the client's lock across the write,
// with the keepalive's deadline (1.5 times it, up to hours): a client that
// stopped reading blocked every publisher that delivered to it at QoS 1
// or 2, and the takeover of its client id.
func (cl *Client) WritePacket(pk packets.Packet) error {
	return cl.writePacket(pk, time.Time{})
}

// writePacket is WritePacket; with a non-zero until, it waits for the
// write gate and writes only until then (see Server.DisconnectClient), and
// a timeout is not counted as a slow consumer.
func (cl *Client) writePacket(pk packets.Packet, until time.Time) error {
	if cl.Closed() {
		return ErrConnectionClosed
	}

	if cl.Net.Conn == nil {
		return nil
	}

	if pk.Expiry > 0 {
		expiry := pk.Expiry - time.Now().Unix()
		if expiry < 1 {
			expiry = 1
		}
		pk.Properties.MessageExpiryInterval = uint32(expiry) // [MQTT-3.3.2-6]
	}

	pk.ProtocolVersion = cl.Properties.ProtocolVersion
	if pk.Mods.MaxSize == 0 { // NB we use this statement to embed client packet sizes in tests
		pk.Mods.MaxSize = cl.Properties.Props.MaximumPacketSize
	}

	if cl.Properties.Props.RequestProblemInfoFlag && cl.Properties.Props.RequestProblemInfo == 0x0 {
		pk.Mods.DisallowProblemInfo = true // [MQTT-3.1.2-29] strict, no problem info on any packet if set
	}

	if pk.FixedHeader.Type != packets.Connack || cl.Properties.Props.RequestResponseInfo == 0x1 || cl.ops.options.Capabilities.Compatibilities.AlwaysReturnResponseInfo {
		pk.Mods.AllowResponseInfo = true // [MQTT-3.1.2-28] we need to know which properties we can encode
	}

	pk = cl.ops.hooks.OnPacketEncode(cl, pk)

	var err error
	buf := writeBufs.Get()
	defer writeBufs.Put(buf)
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(buf)
	case packets.Connack:
		err = pk.ConnackEncode(buf)
	case packets.Publish:
		err = pk.PublishEncode(buf)
	case packets.Puback:
		err = pk.PubackEncode(buf)
	case packets.Pubrec:
		err = pk.PubrecEncode(buf)
	case packets.Pubrel:
		err = pk.PubrelEncode(buf)
	case packets.Pubcomp:
		err = pk.PubcompEncode(buf)
	case packets.Subscribe:
		err = pk.SubscribeEncode(buf)
	case packets.Suback:
		err = pk.SubackEncode(buf)
	case packets.Unsubscribe:
		err = pk.UnsubscribeEncode(buf)
	case packets.Unsuback:
		err = pk.UnsubackEncode(buf)
	case packets.Pingreq:
		err = pk.PingreqEncode(buf)
	case packets.Pingresp:
		err = pk.PingrespEncode(buf)
	case packets.Disconnect:
		err = pk.DisconnectEncode(buf)
	case packets.Auth:
		err = pk.AuthEncode(buf)
	default:
		err = fmt.Errorf("%w: %v", packets.ErrNoValidPacketAvailable, pk.FixedHeader.Type)
	}
	if err != nil {
		return err
	}

	if pk.Mods.MaxSize > 0 && uint32(buf.Len()) > pk.Mods.MaxSize {
		return packets.ErrPacketTooLarge // [MQTT-3.1.2-24] [MQTT-3.1.2-25]
	}

	if until.IsZero() {
		cl.wgate.lock()
	} else if !cl.wgate.lockBy(cl.gateDeadline(until)) {
		cl.stuck.Store(true) // the write in progress is not getting anywhere
		return ErrWriteBlocked
	} else {
		cl.wdeadline, cl.wbounded = until, true
		_ = cl.Net.Conn.SetWriteDeadline(until)
	}
	n, err := cl.writeLocked(buf, pk.FixedHeader.Type == packets.Disconnect)
	cl.wbounded = false
	cl.wgate.unlock()
	if err != nil {
		cl.writeFailed(err, until.IsZero())
		return err
	}

	atomic.AddInt64(&cl.ops.info.BytesSent, n)
	atomic.AddInt64(&cl.ops.info.PacketsSent, 1)
	if pk.FixedHeader.Type == packets.Publish {
		atomic.AddInt64(&cl.ops.info.MessagesSent, 1)
		cl.Counters.MessagesSent.Add(1)
	}

	cl.ops.hooks.OnPacketSent(cl, pk, buf.Bytes())

	return err
}

// writeLocked writes the encoded packet buf, or batches it, with the write
// gate held. A DISCONNECT is flushed with whatever is buffered before it
// even when more packets wait (fork): the connection closes right after
// it, and upstream could leave it in the buffer.
func (cl *Client) writeLocked(buf *bytes.Buffer, disconnect bool) (int64, error) {
	if atomic.LoadInt32(&cl.State.outboundQty) == 0 || disconnect {
		if cl.Net.outbuf == nil {
			return cl.writeToSocket(buf)
		}

		// first write to buffer, then flush buffer
		n, _ := cl.Net.outbuf.Write(buf.Bytes()) // will always be successful
		return int64(n), cl.flushOutbuf()
	}

	// there are more writes in the queue
	if cl.Net.outbuf == nil {
		if buf.Len() >= cl.ops.options.ClientNetWriteBufferSize {
			return cl.writeToSocket(buf)
		}
		cl.Net.outbuf = writeBufs.Get() // Fork: from the pool, like buf
	}

	n, _ := cl.Net.outbuf.Write(buf.Bytes()) // will always be successful
	if cl.Net.outbuf.Len() < cl.ops.options.ClientNetWriteBufferSize {
		return int64(n), nil
	}
	return int64(n), cl.flushOutbuf()
}

// writeToSocket writes b to the connection, with the write gate held,
// under a deadline at least Options.WriteTimeout away. The deadline is
// set a quarter of the timeout further, and set again only once the
// timeout reaches past it: at most four times per timeout while the
// client is written to, rather than per write (setting a deadline costs a
// timer update in the runtime's poller).
func (cl *Client) writeToSocket(b *bytes.Buffer) (int64, error) {
	now := time.Now()
	if t := cl.ops.options.WriteTimeout; t > 0 && !cl.wbounded && cl.wdeadline.Sub(now) < t {
		cl.wdeadline = now.Add(t + t/4)
		_ = cl.Net.Conn.SetWriteDeadline(cl.wdeadline)
	}
	cl.writingSince.Store(now.UnixNano())
	n, err := b.WriteTo(cl.Net.Conn)
	cl.writingSince.Store(0)
	return n, err
}

// writeFailed handles a failed socket write. A write that timed out marks
// the client stuck; under the write timeout (counted), the client is a
// slow consumer and is stopped: its writer and its queue go, and its
// publishers never waited on it.
func (cl *Client) writeFailed(err error, counted bool) {
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		return
	}
	if cl.stuck.Swap(true) || !counted || cl.Closed() {
		return
	}
	atomic.AddInt64(&cl.ops.info.SlowConsumers, 1)
	cl.ops.log.Warn("slow consumer disconnected: its socket stayed unwritable past the write timeout",
		"client", cl.ID, "remote", cl.Net.Remote, "write_timeout", cl.ops.options.WriteTimeout)
	cl.Stop(ErrSlowConsumer)
}

// gateDeadline returns how long a DISCONNECT that must be written by
// until waits for the write gate: until then, or until the write in
// progress has lasted as long as the DISCONNECT may take, if sooner. A
// write blocked that long is stuck, and waiting more would only delay
// the takeover or the revocation that sends the DISCONNECT.
func (cl *Client) gateDeadline(until time.Time) time.Time {
	if since := cl.writingSince.Load(); since != 0 {
		if t := time.Unix(0, since).Add(time.Until(until)); t.Before(until) {
			return t
		}
	}
	return until
}

// ErrSlowConsumer is the stop cause of a client stopped because its
// socket stayed unwritable past Options.WriteTimeout (fork).
var ErrSlowConsumer = errors.New("slow consumer: the client did not read what it was sent within the write timeout")

// ErrWriteBlocked is returned by a write that could not begin in time,
// another write to the client being blocked (fork).
var ErrWriteBlocked = errors.New("write blocked: another write to the client is not progressing")

// writeGate serialises the writes to a client's socket (fork). Unlike a
// mutex, it can be waited for with a deadline, so that a DISCONNECT to a
// client whose socket is full gives up instead of waiting on its writer.
// The zero value is ready to use.
type writeGate struct {
	once sync.Once
	ch   chan struct{}
}

func (g *writeGate) c() chan struct{} {
	g.once.Do(func() { g.ch = make(chan struct{}, 1) })
	return g.ch
}

func (g *writeGate) lock()   { g.c() <- struct{}{} }
func (g *writeGate) unlock() { <-g.c() }

// lockBy takes the gate if it can before deadline.
func (g *writeGate) lockBy(deadline time.Time) bool {
	select {
	case g.c() <- struct{}{}:
		return true
	default:
	}
	d := time.Until(deadline)
	if d <= 0 {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case g.c() <- struct{}{}:
		return true
	case <-t.C:
		return false
	}
}

// innermostConn follows the NetConn methods of wrappers such as *tls.Conn
// down to the connection under them.
func innermostConn(c net.Conn) net.Conn {
	for i := 0; i < 8; i++ {
		w, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			return c
		}
		c = w.NetConn()
	}
	return c
}

// flushOutbuf writes the batch buffer, with the write gate held.
func (cl *Client) flushOutbuf() (err error) {
	if cl.Net.outbuf == nil {
		return
	}

	_, err = cl.writeToSocket(cl.Net.outbuf)
	if err == nil {
		writeBufs.Put(cl.Net.outbuf)
		cl.Net.outbuf = nil
	}
	return
}
