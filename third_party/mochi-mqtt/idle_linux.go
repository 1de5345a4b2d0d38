// SPDX-License-Identifier: MIT
// Fork of mochi-mqtt v2.7.9: see FORK.md.

package mqtt

import (
	"errors"
	"os"
	"sync"
	"syscall"
	"time"
)

// idlePoller waits for the sockets of every idle session of the process
// at once: one epoll instance, one goroutine blocked in epoll_wait and one
// that enforces the parked sessions' keep-alive deadlines, instead of a
// goroutine (and its stack, 2 KiB at least) per idle session. A session
// parks with its socket armed one-shot in the epoll set; whichever comes
// first of the socket becoming readable (or hung up), the client being
// stopped, or its read deadline passing takes it out of the set of parked
// sessions, and only that one serves the session on, on a new goroutine.
type idlePoller struct {
	epfd   int
	mu     sync.Mutex
	next   uint64
	parked map[uint64]parkedSession
}

// parkedSession is a session waiting in the poller.
type parkedSession struct {
	ss       *session
	deadline time.Time // the connection's read deadline (the keep-alive's); zero: none
}

// idleSweep is how often the poller ends parked sessions whose read
// deadline has passed. Their deadline already has a second of slack
// (deadlineSlack).
const idleSweep = 250 * time.Millisecond

var (
	pollerOnce sync.Once
	thePoller  *idlePoller
	pollerErr  error
)

// poller returns the process's idle poller, started on first use.
func poller() (*idlePoller, error) {
	pollerOnce.Do(func() {
		epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			pollerErr = err
			return
		}
		thePoller = &idlePoller{epfd: epfd, parked: map[uint64]parkedSession{}}
		go thePoller.wait()
		go thePoller.sweep()
	})
	return thePoller, pollerErr
}

// IdleSessions returns how many sessions of the process are parked in the
// idle poller: idle, with no goroutine of their own.
func IdleSessions() int {
	p, err := poller()
	if err != nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.parked)
}

// park hands an idle session's wait to the poller. It reports false, with
// nothing parked, when the socket cannot be armed; the caller then waits
// on a goroutine of its own.
func (ss *session) park() bool {
	p, err := poller()
	if err != nil {
		return false
	}
	cl := ss.cl
	var deadline time.Time
	if cl.deadlineSet {
		deadline = cl.deadline
	}
	p.mu.Lock()
	p.next++
	id := p.next
	p.parked[id] = parkedSession{ss: ss, deadline: deadline}
	p.mu.Unlock()
	// Stop marks the client closed, then unparks it; the session marks
	// itself parked, then looks at Closed: one of the two sees the other.
	cl.parkID.Store(id)
	if cl.Closed() {
		if ss := p.take(id); ss != nil {
			go ss.serve()
		}
		return true
	}
	var ctlErr error
	err = ss.raw.Control(func(fd uintptr) {
		// One-shot: the poller forgets the socket once it has reported
		// it; the next park arms it again (MOD), the first adds it. A
		// closed socket leaves the epoll set by itself.
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: int32(uint32(id)), Pad: int32(uint32(id >> 32))}
		ctlErr = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_MOD, int(fd), &ev)
		if errors.Is(ctlErr, syscall.ENOENT) {
			ctlErr = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
		}
	})
	if err != nil || ctlErr != nil {
		// The socket is closed (Stop unparks the session) or cannot be
		// polled: whoever takes the session serves it on.
		if ss := p.take(id); ss != nil {
			if cl.Closed() {
				go ss.serve()
			} else {
				go ss.waitForPacket()
			}
		}
	}
	return true
}

// take removes the parked session id and returns it, or nil if something
// else took it first.
func (p *idlePoller) take(id uint64) *session {
	p.mu.Lock()
	ps, ok := p.parked[id]
	delete(p.parked, id)
	p.mu.Unlock()
	if !ok {
		return nil
	}
	ps.ss.cl.parkID.CompareAndSwap(id, 0)
	return ps.ss
}

// unpark serves a stopped client's parked session on, which then ends.
func (cl *Client) unpark() {
	id := cl.parkID.Load()
	if id == 0 {
		return
	}
	if p, err := poller(); err == nil {
		if ss := p.take(id); ss != nil {
			go ss.serve()
		}
	}
}

// wait serves on each session whose socket the kernel reports readable
// or hung up.
func (p *idlePoller) wait() {
	events := make([]syscall.EpollEvent, 256)
	for {
		n, err := syscall.EpollWait(p.epfd, events, -1)
		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			panic("mqtt: epoll_wait of the idle poller: " + err.Error()) // only with a bad epfd
		}
		for _, ev := range events[:n] {
			if ss := p.take(uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32); ss != nil {
				go ss.serve()
			}
		}
	}
}

// sweep ends the parked sessions whose read deadline has passed, as the
// read would have: with os.ErrDeadlineExceeded.
func (p *idlePoller) sweep() {
	var expired []uint64
	for now := range time.Tick(idleSweep) {
		expired = expired[:0]
		p.mu.Lock()
		for id, ps := range p.parked {
			if !ps.deadline.IsZero() && ps.deadline.Before(now) {
				expired = append(expired, id)
			}
		}
		p.mu.Unlock()
		for _, id := range expired {
			if ss := p.take(id); ss != nil {
				go ss.timedOut()
			}
		}
	}
}

// timedOut ends a parked session whose keep-alive deadline passed.
func (ss *session) timedOut() {
	if ss.cl.Closed() {
		ss.serve()
		return
	}
	ss.finish(os.ErrDeadlineExceeded)
}
