package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/openpubsub/pubsub/controlplane"
)

// handleMintCredentials mints tokens: GET as Cloudflare does, POST too.
// The result is an object from client id to token, in minting order.
func (s *Server) handleMintCredentials(w http.ResponseWriter, r *http.Request) {
	req, err := parseMintRequest(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	minted, err := s.svc.MintCredentials(r.Context(), account(r).ID, chi.URLParam(r, "namespace"), chi.URLParam(r, "broker"), req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeOK(w, mintedJSON(minted))
}

// parseMintRequest reads the minting parameters from the query string.
func parseMintRequest(r *http.Request) (controlplane.MintRequest, error) {
	q := r.URL.Query()
	var req controlplane.MintRequest
	if raw, ok := q["number"]; ok {
		n, err := strconv.Atoi(raw[0])
		if err != nil || len(raw) > 1 {
			return req, errorf(controlplane.EINVALIDCREDPARAM, "number must be a whole number from 1 to %d, got %q", controlplane.MaxMint, truncate(raw[0]))
		}
		if n < 1 || n > controlplane.MaxMint {
			return req, errorf(controlplane.EINVALIDCREDPARAM, "number must be between 1 and %d, got %d", controlplane.MaxMint, n)
		}
		req.Number = n
	}
	if raw, ok := q["type"]; ok {
		req.Type = raw[0]
		if req.Type == "" {
			return req, errorf(controlplane.EINVALIDCREDPARAM, "type is empty; the supported value is %q", controlplane.AuthTypeToken)
		}
	}
	if raw, ok := q["expiration"]; ok {
		v, err := strconv.ParseInt(raw[0], 10, 64)
		if errors.Is(err, strconv.ErrRange) {
			return req, errorf(controlplane.EINVALIDCREDPARAM, "expiration must be at most %d seconds (3650 days), or -1 for none; got %q", controlplane.MaxExpiration, truncate(raw[0]))
		} else if err != nil {
			return req, errorf(controlplane.EINVALIDCREDPARAM, "expiration must be a whole number of seconds, or -1 for none; got %q", truncate(raw[0]))
		}
		req.Expiration = &v
	}
	req.TopicACL = q["topicAcl"]
	req.PublishACL = nonEmpty(q["publishAcl"])
	req.SubscribeACL = nonEmpty(q["subscribeAcl"])
	req.ClientIDs = nonEmpty(q["clientid"])
	return req, nil
}

// nonEmpty drops empty values and returns nil when none is left.
func nonEmpty(vals []string) []string {
	var out []string
	for _, v := range vals {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// mintedJSON is an ordered JSON object {"<client id>": "<token>", ...}.
type mintedJSON []controlplane.Minted

// MarshalJSON keeps minting order, which a Go map would lose.
func (m mintedJSON) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(m) * 512)
	buf.WriteByte('{')
	for i, c := range m {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, err := json.Marshal(c.ClientID)
		if err != nil {
			return nil, err
		}
		buf.Write(k)
		buf.WriteByte(':')
		buf.WriteByte('"')
		buf.WriteString(c.Token) // base64url and dots only: nothing to escape
		buf.WriteByte('"')
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// credentialJSON is the stored metadata of a credential; never the token.
type credentialJSON struct {
	JTI          string   `json:"jti"`
	ClientID     string   `json:"client_id"`
	KeyID        string   `json:"kid"`
	IssuedAt     string   `json:"issued_at"`
	ExpiresAt    *string  `json:"expires_at"`
	TopicACL     []string `json:"topic_acl"`
	PublishACL   []string `json:"publish_acl,omitempty"`
	SubscribeACL []string `json:"subscribe_acl,omitempty"`
}

func toCredentialJSON(c *controlplane.Credential) credentialJSON {
	out := credentialJSON{JTI: c.JTI, ClientID: c.ClientID, KeyID: c.KeyID, IssuedAt: formatTime(c.IssuedAt), TopicACL: c.TopicACL, PublishACL: c.PublishACL, SubscribeACL: c.SubscribeACL}
	if c.ExpiresAt != nil {
		t := formatTime(*c.ExpiresAt)
		out.ExpiresAt = &t
	}
	return out
}

func (s *Server) handleListCredentials(w http.ResponseWriter, r *http.Request) {
	p, err := parsePage(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	list, total, err := s.svc.ListCredentials(r.Context(), account(r).ID, chi.URLParam(r, "namespace"), chi.URLParam(r, "broker"), p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]credentialJSON, len(list))
	for i, c := range list {
		out[i] = toCredentialJSON(c)
	}
	writeList(w, out, listInfo(p, len(out), total))
}

func (s *Server) handleGetCredential(w http.ResponseWriter, r *http.Request) {
	c, err := s.svc.FindCredential(r.Context(), account(r).ID, chi.URLParam(r, "namespace"), chi.URLParam(r, "broker"), chi.URLParam(r, "jti"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeOK(w, toCredentialJSON(c))
}
