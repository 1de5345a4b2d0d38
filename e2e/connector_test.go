package e2e

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// connectorEnv, when set to an MQTT address, makes the test binary the
// load generator of BenchmarkConsolePageLoad instead of running tests:
// 10,000 TLS connections need a process of their own, since each side
// of each connection takes a file descriptor.
const connectorEnv = "PUBSUB_E2E_CONNECTOR"

// TestMain runs the tests, or the connector (runConnector).
func TestMain(m *testing.M) {
	if os.Getenv(connectorEnv) != "" {
		os.Exit(runConnector(os.Stdin, os.Stdout))
	}
	os.Exit(m.Run())
}

// runConnector reads tokens from in, one a line, until a line "END";
// opens one MQTT v5 session over TLS per token to $PUBSUB_E2E_CONNECTOR
// (server name $CONNECTOR_HOST, trusting $CONNECTOR_CA), 32 at a time;
// prints "CONNECTED <ok> <failed>"; and keeps the sessions open until in
// ends. The sessions send nothing after CONNECT: their keep-alive is an
// hour.
func runConnector(in io.Reader, out io.Writer) int {
	pem, err := os.ReadFile(os.Getenv("CONNECTOR_CA"))
	if err != nil {
		fmt.Fprintln(out, "ERROR", err)
		return 1
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	cfg := &tls.Config{ServerName: os.Getenv("CONNECTOR_HOST"), RootCAs: pool}
	addr := os.Getenv(connectorEnv)
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	var tokens []string
	for sc.Scan() && sc.Text() != "END" {
		tokens = append(tokens, sc.Text())
	}
	var (
		ok, failed atomic.Int64
		wg         sync.WaitGroup
		mu         sync.Mutex
		conns      []net.Conn
		work       = make(chan string)
	)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for tok := range work {
				c, err := connectMQTT(addr, cfg, tok)
				if err != nil {
					failed.Add(1)
					continue
				}
				ok.Add(1)
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		}()
	}
	for _, t := range tokens {
		work <- t
	}
	close(work)
	wg.Wait()
	fmt.Fprintf(out, "CONNECTED %d %d\n", ok.Load(), failed.Load())
	_, _ = io.Copy(io.Discard, in) // until the benchmark closes stdin
	for _, c := range conns {
		c.Close()
	}
	return 0
}

// connectMQTT sends an MQTT v5 CONNECT with tok as password (empty client
// id, clean start, keep-alive 3600 s) and waits for a successful CONNACK.
func connectMQTT(addr string, cfg *tls.Config, tok string) (net.Conn, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 30 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	vh := []byte{0, 4, 'M', 'Q', 'T', 'T', 5, 0x42, 0x0E, 0x10, 0} // clean start + password, keep-alive 3600, no properties
	payload := []byte{0, 0, byte(len(tok) >> 8), byte(len(tok))}   // empty client id, then the password's length
	rest := len(vh) + len(payload) + len(tok)
	pkt := []byte{0x10}
	for {
		b := byte(rest % 128)
		if rest /= 128; rest > 0 {
			b |= 0x80
		}
		pkt = append(pkt, b)
		if rest == 0 {
			break
		}
	}
	pkt = append(append(append(pkt, vh...), payload...), tok...)
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write(pkt); err != nil {
		c.Close()
		return nil, err
	}
	// CONNACK: 0x20, the remaining length (a varint), flags, reason code.
	r := bufio.NewReader(c)
	if b, err := r.ReadByte(); err != nil || b != 0x20 {
		c.Close()
		return nil, fmt.Errorf("no CONNACK: %v %x", err, b)
	}
	n, shift := 0, 0
	for {
		b, err := r.ReadByte()
		if err != nil || shift > 21 {
			c.Close()
			return nil, fmt.Errorf("bad CONNACK length: %v", err)
		}
		n |= int(b&0x7f) << shift
		if b&0x80 == 0 {
			break
		}
		shift += 7
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil || len(body) < 2 || body[1] != 0 {
		c.Close()
		return nil, fmt.Errorf("CONNACK refused: %v %x", err, body)
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}
