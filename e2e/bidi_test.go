package e2e

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// A small WebDriver BiDi client (https://w3c.github.io/webdriver-bidi/)
// that drives Debian's Firefox ESR, which speaks the protocol itself
// (--remote-debugging-port): no driver binary, no downloaded browser.
// It knows the few commands the console test needs.

// bidi is one BiDi session over the browser's WebSocket.
type bidi struct {
	ws      *websocket.Conn
	writeMu sync.Mutex

	mu      sync.Mutex
	nextID  int64
	pending map[int64]chan bidiMessage
	errs    []string // JavaScript errors the pages raised (log.entryAdded)
	closed  error
}

// bidiMessage is a command's answer or an event.
type bidiMessage struct {
	Type    string          `json:"type"` // success, error, event
	ID      int64           `json:"id"`
	Result  json.RawMessage `json:"result"`
	Error   string          `json:"error"`
	Message string          `json:"message"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params"`
}

var bidiListening = regexp.MustCompile(`WebDriver BiDi listening on (ws://\S+)`)

// startFirefox starts headless Firefox on a profile of its own with
// prefs, and returns a BiDi session whose untrusted certificates are
// accepted (the dev stack's). The browser is closed when the test ends.
func startFirefox(t *testing.T, firefox string, prefs map[string]any) *bidi {
	t.Helper()
	profile := t.TempDir()
	var userJS strings.Builder
	for k, v := range prefs {
		val, _ := json.Marshal(v)
		fmt.Fprintf(&userJS, "user_pref(%q, %s);\n", k, val)
	}
	if err := os.WriteFile(filepath.Join(profile, "user.js"), []byte(userJS.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(firefox, "--headless", "--no-remote", "--profile", profile, "--remote-debugging-port=0", "about:blank")
	cmd.Env = append(os.Environ(), "MOZ_HEADLESS=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := bidiListening.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	var url string
	select {
	case url = <-found:
	case <-exited:
		t.Fatal("firefox exited before listening for WebDriver BiDi")
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("firefox did not listen for WebDriver BiDi within 60 s")
	}
	ws, _, err := websocket.DefaultDialer.Dial(url+"/session", nil)
	if err != nil {
		_ = cmd.Process.Kill()
		t.Fatal(err)
	}
	b := &bidi{ws: ws, pending: map[int64]chan bidiMessage{}}
	go b.read()
	t.Cleanup(func() {
		// Closing the browser ends the session and the process.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := b.call(ctx, "browser.close", map[string]any{}); err != nil {
			_ = cmd.Process.Kill()
		}
		ws.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := b.call(ctx, "session.new", map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{"acceptInsecureCerts": true}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.call(ctx, "session.subscribe", map[string]any{"events": []string{"log.entryAdded"}}); err != nil {
		t.Fatal(err)
	}
	return b
}

// read dispatches the browser's messages until the socket closes.
func (b *bidi) read() {
	for {
		var m bidiMessage
		if err := b.ws.ReadJSON(&m); err != nil {
			b.mu.Lock()
			b.closed = err
			for id, ch := range b.pending {
				close(ch)
				delete(b.pending, id)
			}
			b.mu.Unlock()
			return
		}
		b.mu.Lock()
		switch {
		case m.Type == "event" && m.Method == "log.entryAdded":
			var e struct {
				Level string `json:"level"`
				Type  string `json:"type"`
				Text  string `json:"text"`
			}
			if json.Unmarshal(m.Params, &e) == nil && e.Level == "error" && e.Type == "javascript" {
				b.errs = append(b.errs, e.Text)
			}
		case m.Type != "event":
			if ch := b.pending[m.ID]; ch != nil {
				ch <- m
				delete(b.pending, m.ID)
			}
		}
		b.mu.Unlock()
	}
}

// call sends a command and waits for its answer.
func (b *bidi) call(ctx context.Context, method string, params any) (json.RawMessage, error) {
	ch := make(chan bidiMessage, 1)
	b.mu.Lock()
	if b.closed != nil {
		b.mu.Unlock()
		return nil, b.closed
	}
	b.nextID++
	id := b.nextID
	b.pending[id] = ch
	b.mu.Unlock()
	b.writeMu.Lock()
	err := b.ws.WriteJSON(map[string]any{"id": id, "method": method, "params": params})
	b.writeMu.Unlock()
	if err != nil {
		return nil, err
	}
	select {
	case m, ok := <-ch:
		if !ok {
			return nil, fmt.Errorf("%s: the browser closed the connection", method)
		}
		if m.Type == "error" {
			return nil, fmt.Errorf("%s: %s: %s", method, m.Error, m.Message)
		}
		return m.Result, nil
	case <-ctx.Done():
		b.mu.Lock()
		delete(b.pending, id)
		b.mu.Unlock()
		return nil, fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// jsErrors returns the JavaScript errors the pages raised so far.
func (b *bidi) jsErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errs...)
}

// tab is one browsing context of a session.
type tab struct {
	t  *testing.T
	b  *bidi
	id string
}

// firstTab returns the browser's first top-level browsing context.
func (b *bidi) firstTab(t *testing.T) *tab {
	t.Helper()
	res, err := b.call(context.Background(), "browsingContext.getTree", map[string]any{"maxDepth": 0})
	if err != nil {
		t.Fatal(err)
	}
	var tree struct {
		Contexts []struct {
			Context string `json:"context"`
		} `json:"contexts"`
	}
	if err := json.Unmarshal(res, &tree); err != nil || len(tree.Contexts) == 0 {
		t.Fatalf("browsingContext.getTree: %s, %v", res, err)
	}
	return &tab{t: t, b: b, id: tree.Contexts[0].Context}
}

// navigate loads url and waits for the page's load event.
func (tb *tab) navigate(url string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := tb.b.call(ctx, "browsingContext.navigate", map[string]any{"context": tb.id, "url": url, "wait": "complete"}); err != nil {
		tb.t.Fatal(err)
	}
}

// setViewport sets the page's viewport size in CSS pixels.
func (tb *tab) setViewport(width, height int) {
	tb.t.Helper()
	if _, err := tb.b.call(context.Background(), "browsingContext.setViewport", map[string]any{
		"context": tb.id, "viewport": map[string]any{"width": width, "height": height}, "devicePixelRatio": 1,
	}); err != nil {
		tb.t.Fatal(err)
	}
}

// eval runs a JavaScript expression in the page, awaiting it when it is
// a promise, and returns its value as a string ("" for undefined).
func (tb *tab) eval(expr string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout+5*time.Second)
	defer cancel()
	res, err := tb.b.call(ctx, "script.evaluate", map[string]any{
		"expression": expr, "target": map[string]any{"context": tb.id}, "awaitPromise": true, "resultOwnership": "none",
	})
	if err != nil {
		return "", err
	}
	var r struct {
		Type   string `json:"type"`
		Result struct {
			Type  string `json:"type"`
			Value any    `json:"value"`
		} `json:"result"`
		ExceptionDetails struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	if err := json.Unmarshal(res, &r); err != nil {
		return "", err
	}
	if r.Type == "exception" {
		return "", fmt.Errorf("%s", r.ExceptionDetails.Text)
	}
	if r.Result.Value == nil {
		return "", nil
	}
	return fmt.Sprint(r.Result.Value), nil
}

// run runs JavaScript statements in the page.
func (tb *tab) run(js string) {
	tb.t.Helper()
	if _, err := tb.eval("(() => {"+js+"})()", 10*time.Second); err != nil {
		tb.t.Fatalf("%s: %v", js, err)
	}
}

// waitFor waits until the JavaScript expression cond is truthy in the
// page, checking it at each animation frame and DOM change, and returns
// its value as a string; it fails the test after timeout with what.
func (tb *tab) waitFor(what, cond string, timeout time.Duration) string {
	tb.t.Helper()
	js := fmt.Sprintf(`new Promise((resolve, reject) => {
  const check = () => { try { return (%s); } catch (e) { return undefined; } };
  const done = (v) => { obs.disconnect(); clearTimeout(timer); resolve(String(v)); };
  const obs = new MutationObserver(() => { const v = check(); if (v) done(v); });
  const timer = setTimeout(() => { obs.disconnect(); reject(new Error("timed out")); }, %d);
  obs.observe(document, { subtree: true, childList: true, characterData: true, attributes: true });
  const v = check(); if (v) done(v);
})`, cond, timeout.Milliseconds())
	v, err := tb.eval(js, timeout)
	if err != nil {
		tb.t.Fatalf("waiting for %s (%s): %v; JavaScript errors: %v", what, cond, err, tb.b.jsErrors())
	}
	return v
}

// screenshot captures the viewport as PNG.
func (tb *tab) screenshot() []byte {
	tb.t.Helper()
	res, err := tb.b.call(context.Background(), "browsingContext.captureScreenshot", map[string]any{"context": tb.id, "origin": "document"})
	if err != nil {
		tb.t.Fatal(err)
	}
	var r struct {
		Data string `json:"data"`
	}
	if err := json.Unmarshal(res, &r); err != nil {
		tb.t.Fatal(err)
	}
	png, err := base64.StdEncoding.DecodeString(r.Data)
	if err != nil {
		tb.t.Fatal(err)
	}
	return png
}
