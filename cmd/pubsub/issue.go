package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
)

// mintBatch is the most credentials one API call mints.
const mintBatch = 100

// credential is one minted client id and token.
type credential struct{ ClientID, Token string }

// issueOpts are the flags of broker issue.
type issueOpts struct {
	out, typ, expiration               string
	number, concurrency                int
	topicACL, publishACL, subscribeACL stringList
	clientIDs                          stringList
}

func issueCmd(stdout, stderr io.Writer) *cobra.Command {
	c := apiCommand("issue NAME", "Mint credentials (client id and token) for a broker", `  pubsub broker issue example-broker --ns my-namespace
  pubsub broker issue example-broker -n 10000 --out creds.json       # resumable: run it again after an interruption
  pubsub broker issue example-broker --client-id device-a device-b --exp 1y
  pubsub broker issue example-broker --topic-acl 'devices/+/up' --expiration "6 days"`, exactArgs("NAME"))
	ns := namespaceFlag(c.Flags())
	var o issueOpts
	fs := c.Flags()
	fs.IntVarP(&o.number, "number", "n", 1, "how many credentials to mint (ignored with --client-id)")
	fs.StringVar(&o.out, "out", "", "write the credentials to this JSON file instead of stdout; an interrupted run resumes from <out>.partial")
	fs.StringVar(&o.typ, "type", "TOKEN", "credential type")
	fs.StringVar(&o.expiration, "expiration", "", "lifetime: seconds or 24h, 30d, 1y, \"6 days\"; -1 for none")
	fs.StringVar(&o.expiration, "exp", "", "alias of --expiration (wrangler's name)")
	fs.IntVar(&o.concurrency, "concurrency", 4, "requests in flight")
	fs.Var(&o.topicACL, "topic-acl", "topic filter allowed both ways (repeatable; default #)")
	fs.Var(&o.publishACL, "publish-acl", "topic filter that narrows publishing (repeatable)")
	fs.Var(&o.subscribeACL, "subscribe-acl", "topic filter that narrows subscribing (repeatable)")
	fs.Var(&o.clientIDs, "client-id", "mint for these client ids: repeatable, or space-separated as in wrangler (--client-id a b)")
	fs.Var(&o.clientIDs, "jti", "alias of --client-id (wrangler's name)")
	c.RunE = func(c *cobra.Command, args []string) error {
		if err := needNamespace(*ns); err != nil {
			return err
		}
		cl, err := newAPIClient()
		if err != nil {
			return err
		}
		path := "/namespaces/" + url.PathEscape(*ns) + "/brokers/" + url.PathEscape(args[0])
		return issueCredentials(c.Context(), cl, path, o, stdout, stderr)
	}
	return c
}

// issueCredentials mints opts.number credentials (or one per --client-id)
// in batches of 100, several batches in flight. With --out, every finished
// batch is appended to <out>.partial first, so an interrupted run loses
// nothing and the same command resumes where it stopped.
func issueCredentials(ctx context.Context, c *apiClient, path string, opts issueOpts, stdout, stderr io.Writer) error {
	q := url.Values{"type": {opts.typ}}
	for name, vals := range map[string]stringList{"topicAcl": opts.topicACL, "publishAcl": opts.publishACL, "subscribeAcl": opts.subscribeACL} {
		for _, v := range vals {
			q.Add(name, v)
		}
	}
	if opts.expiration != "" {
		secs, err := parseLifetime(opts.expiration)
		if err != nil {
			return usageError{"--expiration: " + err.Error()}
		}
		q.Set("expiration", strconv.FormatInt(secs, 10))
	}
	total := opts.number
	if len(opts.clientIDs) > 0 {
		total = len(opts.clientIDs)
	}
	if total < 1 {
		return usageError{"--number (-n) must be at least 1"}
	}
	if opts.concurrency < 1 {
		opts.concurrency = 1
	}

	var done []credential
	var journal *os.File
	if opts.out != "" {
		partial := opts.out + ".partial"
		prev, err := readJournal(partial)
		if err != nil {
			return err
		}
		if len(prev) > 0 {
			fmt.Fprintf(stderr, "Resuming: %d credential(s) already minted in %s.\n", len(prev), partial)
		}
		done = prev
		if journal, err = os.OpenFile(partial, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600); err != nil {
			return err
		}
		defer journal.Close()
	}
	if len(done) > total {
		return fmt.Errorf("%s.partial already holds %d credentials, more than the %d asked for; remove it or ask for more", opts.out, len(done), total)
	}

	// Split what is left into batch queries.
	var batches []url.Values
	if len(opts.clientIDs) > 0 {
		have := map[string]bool{}
		for _, d := range done {
			have[d.ClientID] = true
		}
		var left []string
		for _, id := range opts.clientIDs {
			if !have[id] {
				left = append(left, id)
			}
		}
		for i := 0; i < len(left); i += mintBatch {
			b := cloneValues(q)
			b["clientid"] = left[i:min(i+mintBatch, len(left))]
			batches = append(batches, b)
		}
	} else {
		for left := total - len(done); left > 0; left -= mintBatch {
			b := cloneValues(q)
			b.Set("number", strconv.Itoa(min(left, mintBatch)))
			batches = append(batches, b)
		}
	}

	prog := newProgress(stderr, total, len(done))
	var (
		mu      sync.Mutex
		failure error
		wg      sync.WaitGroup
		next    = make(chan url.Values)
	)
	for w := 0; w < opts.concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range next {
				var raw json.RawMessage
				err := c.do(context.WithoutCancel(ctx), "GET", path+"/credentials", b, nil, &raw)
				var creds []credential
				if err == nil {
					creds, err = orderedCredentials(raw)
				}
				mu.Lock()
				if err == nil && journal != nil {
					err = appendJournal(journal, creds)
				}
				if err != nil {
					if failure == nil {
						failure = err
					}
				} else {
					done = append(done, creds...)
					prog.update(len(done))
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for _, b := range batches {
		mu.Lock()
		failed := failure != nil
		mu.Unlock()
		if failed {
			break
		}
		select {
		case next <- b:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	prog.finish(len(done))

	interrupted := ctx.Err() != nil && len(done) < total
	if failure != nil || interrupted {
		reason := "interrupted"
		if failure != nil {
			reason = failure.Error()
		}
		if opts.out != "" {
			return fmt.Errorf("%s after %d of %d credentials; they are saved in %s.partial; run the same command again to mint the remaining %d", reason, len(done), total, opts.out, total-len(done))
		}
		_ = writeCredentials(stdout, done)
		return fmt.Errorf("%s after %d of %d credentials (printed above); use --out to be able to resume", reason, len(done), total)
	}
	if opts.out == "" {
		return writeCredentials(stdout, done)
	}
	if err := writeFileAtomic(opts.out, done); err != nil {
		return err
	}
	journal.Close()
	os.Remove(opts.out + ".partial")
	fmt.Fprintf(stderr, "Wrote %d credentials to %s.\n", len(done), opts.out)
	return nil
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// orderedCredentials decodes a mint result, keeping the object's order.
func orderedCredentials(raw json.RawMessage) ([]credential, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("unexpected mint result: %.80s", raw)
	}
	var out []credential
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var tok string
		if err := dec.Decode(&tok); err != nil {
			return nil, err
		}
		out = append(out, credential{ClientID: k.(string), Token: tok})
	}
	return out, nil
}

// appendJournal appends one batch as one JSON line and syncs it to disk.
func appendJournal(f *os.File, creds []credential) error {
	var buf bytes.Buffer
	if err := writeCredentialsCompact(&buf, creds); err != nil {
		return err
	}
	buf.WriteByte('\n')
	if _, err := f.Write(buf.Bytes()); err != nil {
		return err
	}
	return f.Sync()
}

// readJournal reads the batches saved by an earlier, interrupted run. A torn
// last line (the process died mid-write) is ignored: that batch is minted again.
func readJournal(path string) ([]credential, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []credential
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		creds, err := orderedCredentials(sc.Bytes())
		if err != nil {
			break
		}
		out = append(out, creds...)
	}
	return out, nil
}

func writeCredentialsCompact(w io.Writer, creds []credential) error {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, c := range creds {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, _ := json.Marshal(c.ClientID)
		v, _ := json.Marshal(c.Token)
		buf.Write(k)
		buf.WriteByte(':')
		buf.Write(v)
	}
	buf.WriteByte('}')
	_, err := w.Write(buf.Bytes())
	return err
}

// writeCredentials writes {"<client id>": "<token>", ...} one entry a line.
func writeCredentials(w io.Writer, creds []credential) error {
	var buf bytes.Buffer
	buf.WriteString("{\n")
	for i, c := range creds {
		k, _ := json.Marshal(c.ClientID)
		v, _ := json.Marshal(c.Token)
		fmt.Fprintf(&buf, "  %s: %s", k, v)
		if i < len(creds)-1 {
			buf.WriteByte(',')
		}
		buf.WriteByte('\n')
	}
	buf.WriteString("}\n")
	_, err := w.Write(buf.Bytes())
	return err
}

func writeFileAtomic(path string, creds []credential) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := writeCredentials(f, creds); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// progress shows a bar on a terminal and a plain line per 10% otherwise.
type progress struct {
	w        io.Writer
	tty      bool
	total    int
	start    time.Time
	base     int
	lastStep int
}

func newProgress(w io.Writer, total, done int) *progress {
	p := &progress{w: w, total: total, start: time.Now(), base: done, lastStep: done * 10 / max(total, 1)}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *progress) rate(done int) float64 {
	secs := time.Since(p.start).Seconds()
	if secs <= 0 {
		return 0
	}
	return float64(done-p.base) / secs
}

func (p *progress) update(done int) {
	if p.tty {
		const width = 30
		filled := width * done / max(p.total, 1)
		fmt.Fprintf(p.w, "\r[%s%s] %d/%d %.0f/s", strings.Repeat("#", filled), strings.Repeat("-", width-filled), done, p.total, p.rate(done))
		return
	}
	if step := done * 10 / max(p.total, 1); step > p.lastStep {
		p.lastStep = step
		fmt.Fprintf(p.w, "minted %d/%d (%.0f/s)\n", done, p.total, p.rate(done))
	}
}

func (p *progress) finish(done int) {
	if p.tty {
		fmt.Fprintln(p.w)
	}
}
