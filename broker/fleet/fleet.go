// Package fleet is a broker node's link to the control plane: it follows the
// config feed (pkg/feed) over one long-lived HTTP stream, turns its events
// into broker.States, resumes from its last revision after a reconnect, and
// keeps the latest State in a disk cache so the node starts, and keeps
// serving, while the control plane is down.
package fleet

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/openpubsub/pubsub/broker"
	"github.com/openpubsub/pubsub/pkg/feed"
)

// Config configures a Client.
type Config struct {
	// URL is the control plane's base URL, e.g. https://cp.example.com.
	URL string
	// Token is the node token from `pubsub node token create`.
	Token string
	// CacheFile holds the latest State between runs; "" disables the cache.
	CacheFile string
	// HTTPClient talks to the control plane; nil means a default client.
	HTTPClient *http.Client
	// MinBackoff and MaxBackoff bound the wait between reconnects.
	MinBackoff, MaxBackoff time.Duration
	Log                    *slog.Logger
}

// Client follows the config feed. It implements broker.ConfigSource.
type Client struct {
	cfg Config
	// box opens the secrets of self-signed keys, sealed for this node's
	// token in the feed and in the cache.
	box *feed.SecretBox
}

// New returns a Client. It checks the config but does not connect.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("the control plane URL %q must be an http:// or https:// URL", cfg.URL)
	}
	if cfg.Token == "" {
		return nil, errors.New("a node token is required (pubsub node token create)")
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{} // no timeout: the stream is long-lived; idleness is checked below
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 100 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	cfg.URL = strings.TrimRight(cfg.URL, "/")
	return &Client{cfg: cfg, box: feed.NewSecretBoxForToken(cfg.Token)}, nil
}

// Run implements broker.ConfigSource: it applies the cached State first (if
// any), then follows the feed, reconnecting with backoff, until ctx ends.
func (c *Client) Run(ctx context.Context, apply func(*broker.State)) error {
	st := c.loadCache()
	if st != nil {
		c.cfg.Log.Info("serving the cached config until the control plane answers", "revision", st.Revision(), "brokers", st.Len())
		apply(st)
	}
	saver := newCacheWriter(c)
	defer saver.close()
	publish := func(next *broker.State) {
		st = next
		apply(next)
		saver.save(next)
	}
	backoff := c.cfg.MinBackoff
	for ctx.Err() == nil {
		progressed, err := c.follow(ctx, st, publish)
		if ctx.Err() != nil {
			break
		}
		var stale *staleError
		if errors.As(err, &stale) {
			// The control plane is behind us (restored from a backup?):
			// start over from a full snapshot.
			c.cfg.Log.Warn("the feed went backwards; asking for a full snapshot", "err", err)
			st = nil
		} else {
			c.cfg.Log.Warn("config feed interrupted; serving the last config", "err", err, "revision", st.Revision(), "retry_in", backoff)
		}
		if progressed {
			backoff = c.cfg.MinBackoff
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, c.cfg.MaxBackoff)
	}
	return ctx.Err()
}

type staleError struct{ err error }

func (e *staleError) Error() string { return e.err.Error() }

// follow reads one feed stream from st's revision, publishing each new
// State. It reports whether it received anything.
func (c *Client) follow(ctx context.Context, st *broker.State, publish func(*broker.State)) (bool, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := http.NewRequestWithContext(ctx, "GET", c.cfg.URL+feed.Path+"?after="+strconv.FormatInt(st.Revision(), 10), nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	res, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return false, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		return false, fmt.Errorf("control plane answered %s: %s", res.Status, strings.TrimSpace(string(body)))
	}
	// A silent stream is a dead one: the control plane pings when idle.
	idle := time.AfterFunc(3*feed.PingInterval, func() { cancel(errors.New("no event or ping for 3 ping intervals")) })
	defer idle.Stop()
	rd := bufio.NewReaderSize(res.Body, 64<<10)
	progressed := false
	for {
		line, err := rd.ReadBytes('\n')
		if err != nil {
			if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil {
				err = cause
			}
			return progressed, err
		}
		idle.Reset(3 * feed.PingInterval)
		var ev feed.Event
		if err := json.Unmarshal(line, &ev); err != nil {
			return progressed, fmt.Errorf("bad feed event: %w", err)
		}
		if err := c.box.OpenSecrets(&ev); err != nil {
			return progressed, fmt.Errorf("feed event at revision %d: %w", ev.Revision, err)
		}
		progressed = true
		if ev.Type == feed.TypePing && ev.Revision == st.Revision() {
			continue
		}
		next, err := st.Apply(ev)
		if broker.ErrorCode(err) == broker.ESTALE {
			return progressed, &staleError{err}
		} else if err != nil {
			return progressed, err
		}
		st = next
		publish(st)
	}
}

// cacheFormat is the disk cache: a snapshot event.
type cacheFormat = feed.Event

func (c *Client) loadCache() *broker.State {
	if c.cfg.CacheFile == "" {
		return nil
	}
	raw, err := os.ReadFile(c.cfg.CacheFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		c.cfg.Log.Warn("cannot read the config cache", "file", c.cfg.CacheFile, "err", err)
		return nil
	}
	var ev cacheFormat
	if err := json.Unmarshal(raw, &ev); err != nil {
		c.cfg.Log.Warn("ignoring a corrupt config cache", "file", c.cfg.CacheFile, "err", err)
		return nil
	}
	if err := c.box.OpenSecrets(&ev); err != nil {
		// Written under another node token: the feed resends everything.
		c.cfg.Log.Warn("ignoring a config cache sealed for another node token", "file", c.cfg.CacheFile)
		return nil
	}
	st, err := broker.NewState(ev)
	if err != nil {
		c.cfg.Log.Warn("ignoring an invalid config cache", "file", c.cfg.CacheFile, "err", err)
		return nil
	}
	return st
}

// writeCache writes st atomically: a crash mid-write leaves the old cache.
func (c *Client) writeCache(st *broker.State) error {
	raw, err := json.Marshal(st.Snapshot(time.Now().Unix()))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(c.cfg.CacheFile), 0o700); err != nil {
		return err
	}
	tmp := c.cfg.CacheFile + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		return err
	}
	// WriteFile keeps the mode of a file left over by a crash; the cache
	// holds sealed secrets, and stays owner-only.
	if err := os.Chmod(tmp, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, c.cfg.CacheFile)
}

// cacheWriter writes the latest State in the background, coalescing bursts
// so that a storm of revocations costs a few writes, not one each.
type cacheWriter struct {
	c    *Client
	next chan *broker.State
	done chan struct{}
}

func newCacheWriter(c *Client) *cacheWriter {
	w := &cacheWriter{c: c, next: make(chan *broker.State, 1), done: make(chan struct{})}
	go w.loop()
	return w
}

func (w *cacheWriter) save(st *broker.State) {
	if w.c.cfg.CacheFile == "" {
		return
	}
	for {
		select {
		case w.next <- st:
			return
		default:
			select { // replace the pending state with the newer one
			case <-w.next:
			default:
			}
		}
	}
}

func (w *cacheWriter) loop() {
	defer close(w.done)
	for st := range w.next {
		if err := w.c.writeCache(st); err != nil {
			w.c.cfg.Log.Warn("cannot write the config cache", "file", w.c.cfg.CacheFile, "err", err)
		}
		time.Sleep(200 * time.Millisecond) // coalesce the next burst
	}
}

// close writes whatever is pending and stops.
func (w *cacheWriter) close() {
	close(w.next)
	<-w.done
}
