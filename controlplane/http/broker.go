package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/openpubsub/pubsub/controlplane"
)

// brokerJSON is a broker on the wire. authType is Cloudflare's documented
// name; auth_type repeats it for clients written against the live beta.
type brokerJSON struct {
	ID          string         `json:"id"`
	Name        string         `json:"name"`
	AuthType    string         `json:"authType"`
	AuthType2   string         `json:"auth_type"`
	Description string         `json:"description"`
	CreatedOn   string         `json:"created_on"`
	ModifiedOn  string         `json:"modified_on"`
	Expiration  *int64         `json:"expiration"`
	Endpoint    string         `json:"endpoint"`
	OnPublish   *onPublishJSON `json:"on_publish"`
	// Our additions: self-signed (fastly-style) tokens.
	SelfSignedTokens bool `json:"self_signed_tokens"`
	FastlyWildcards  bool `json:"fastly_wildcards"`
}

// onPublishJSON is Cloudflare's on_publish with our optional settings,
// written only when set.
type onPublishJSON struct {
	URL string `json:"url"`
	controlplane.OnPublish
}

func (s *Server) toBrokerJSON(b *controlplane.Broker) brokerJSON {
	out := brokerJSON{
		ID: b.ID, Name: b.Name, AuthType: b.AuthType, AuthType2: b.AuthType, Description: b.Description,
		CreatedOn: formatTime(b.CreatedOn), ModifiedOn: formatTime(b.ModifiedOn), Expiration: b.Expiration,
		Endpoint: s.svc.Endpoint(b), SelfSignedTokens: b.SelfSignedTokens, FastlyWildcards: b.FastlyWildcards,
	}
	if b.OnPublishURL != "" {
		out.OnPublish = &onPublishJSON{URL: b.OnPublishURL, OnPublish: b.OnPublish}
	}
	return out
}

// createBrokerBody is the body of POST /brokers. auth_type is accepted as
// an alias of authType.
type createBrokerBody struct {
	Name        *string         `json:"name"`
	AuthType    string          `json:"authType"`
	AuthTypeAlt string          `json:"auth_type"`
	Description string          `json:"description"`
	Expiration  json.RawMessage `json:"expiration"`
	OnPublish   *onPublishBody  `json:"on_publish"`

	SelfSignedTokens bool `json:"self_signed_tokens"`
	FastlyWildcards  bool `json:"fastly_wildcards"`
}

type onPublishBody struct {
	URL       *string  `json:"url"`
	Filters   []string `json:"filters"`
	Timeout   int      `json:"timeout"`
	OnFailure string   `json:"on_failure"`
	Mode      string   `json:"mode"`
}

// settings returns the body's URL ("" for null or absent) and settings,
// which need a URL.
func (op *onPublishBody) settings() (string, controlplane.OnPublish, error) {
	o := controlplane.OnPublish{Filters: op.Filters, Timeout: op.Timeout, OnFailure: op.OnFailure, Mode: op.Mode}
	if op.URL == nil || *op.URL == "" {
		if !o.IsZero() {
			return "", o, errorf(controlplane.EINVALID, "on_publish.url is required with on_publish's other fields")
		}
		return "", o, nil
	}
	return *op.URL, o, nil
}

func (s *Server) handleCreateBroker(w http.ResponseWriter, r *http.Request) {
	var body createBrokerBody
	if err := decodeBody(w, r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	if body.Name == nil {
		s.writeError(w, r, errorf(controlplane.EINVALIDNAME, "field \"name\" is required"))
		return
	}
	exp, err := parseExpiration(body.Expiration)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	in := controlplane.BrokerInput{Name: *body.Name, AuthType: body.AuthType, Description: body.Description, Expiration: exp,
		SelfSignedTokens: body.SelfSignedTokens, FastlyWildcards: body.FastlyWildcards}
	if in.AuthType == "" {
		in.AuthType = body.AuthTypeAlt
	} else if body.AuthTypeAlt != "" && body.AuthTypeAlt != body.AuthType {
		s.writeError(w, r, errorf(controlplane.EINVALID, "authType %q and auth_type %q disagree; send one of them", truncate(body.AuthType), truncate(body.AuthTypeAlt)))
		return
	}
	if body.OnPublish != nil {
		if in.OnPublishURL, in.OnPublish, err = body.OnPublish.settings(); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	b, err := s.svc.CreateBroker(r.Context(), account(r).ID, chi.URLParam(r, "namespace"), in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeOK(w, s.toBrokerJSON(b))
}

func (s *Server) handleGetBroker(w http.ResponseWriter, r *http.Request) {
	b, err := s.svc.FindBroker(r.Context(), account(r).ID, chi.URLParam(r, "namespace"), chi.URLParam(r, "broker"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeOK(w, s.toBrokerJSON(b))
}

func (s *Server) handleListBrokers(w http.ResponseWriter, r *http.Request) {
	p, err := parsePage(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	list, total, err := s.svc.ListBrokers(r.Context(), account(r).ID, chi.URLParam(r, "namespace"), p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]brokerJSON, len(list))
	for i, b := range list {
		out[i] = s.toBrokerJSON(b)
	}
	writeList(w, out, listInfo(p, len(out), total))
}

// updateBrokerBody is the body of PATCH: raw values, so that an absent
// field (unchanged) differs from null (cleared).
type updateBrokerBody struct {
	Description json.RawMessage `json:"description"`
	Expiration  json.RawMessage `json:"expiration"`
	OnPublish   json.RawMessage `json:"on_publish"`

	SelfSignedTokens *bool `json:"self_signed_tokens"`
	FastlyWildcards  *bool `json:"fastly_wildcards"`
}

var jsonNull = []byte("null")

func (s *Server) handleUpdateBroker(w http.ResponseWriter, r *http.Request) {
	var body updateBrokerBody
	if err := decodeBody(w, r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	u, err := body.update()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	b, err := s.svc.UpdateBroker(r.Context(), account(r).ID, chi.URLParam(r, "namespace"), chi.URLParam(r, "broker"), u)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeOK(w, s.toBrokerJSON(b))
}

// update turns the raw PATCH fields into a BrokerUpdate.
func (body updateBrokerBody) update() (controlplane.BrokerUpdate, error) {
	var u controlplane.BrokerUpdate
	if body.Description != nil {
		u.SetDescription = true
		if !bytes.Equal(body.Description, jsonNull) {
			if err := json.Unmarshal(body.Description, &u.Description); err != nil {
				return u, errorf(controlplane.EINVALID, "field \"description\" must be a string or null")
			}
		}
	}
	if body.Expiration != nil {
		u.SetExpiration = true
		var err error
		if u.Expiration, err = parseExpiration(body.Expiration); err != nil {
			return u, err
		}
	}
	if body.OnPublish != nil {
		u.SetOnPublish = true
		if !bytes.Equal(body.OnPublish, jsonNull) {
			var op onPublishBody
			dec := json.NewDecoder(bytes.NewReader(body.OnPublish))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&op); err != nil {
				return u, errorf(controlplane.EINVALID, "field \"on_publish\" must be {\"url\": \"https://...\"} or {\"url\": null}, with optional \"filters\", \"timeout\", \"on_failure\" and \"mode\": %v", err)
			}
			var err error
			if u.OnPublishURL, u.OnPublish, err = op.settings(); err != nil {
				return u, err
			}
		}
	}
	u.SelfSignedTokens, u.FastlyWildcards = body.SelfSignedTokens, body.FastlyWildcards
	if !u.SetDescription && !u.SetExpiration && !u.SetOnPublish && u.SelfSignedTokens == nil && u.FastlyWildcards == nil {
		return u, errorf(controlplane.EINVALID, "nothing to update: send at least one of \"description\", \"expiration\", \"on_publish\", \"self_signed_tokens\", \"fastly_wildcards\"")
	}
	return u, nil
}

// parseExpiration reads a broker's expiration field: nil when absent or
// null. A number too large for 64 bits gets the same limit in its message
// as one the service refuses.
func parseExpiration(raw json.RawMessage) (*int64, error) {
	if raw == nil || bytes.Equal(raw, jsonNull) {
		return nil, nil
	}
	var num json.Number
	if raw[0] == '"' || json.Unmarshal(raw, &num) != nil {
		return nil, errorf(controlplane.EINVALID, "field \"expiration\" must be a number: a whole number of seconds or null, not %s", truncate(string(raw)))
	}
	v, err := strconv.ParseInt(num.String(), 10, 64)
	if errors.Is(err, strconv.ErrRange) && !strings.HasPrefix(num.String(), "-") {
		return nil, errorf(controlplane.EINVALID, "expiration must be at most %d seconds (3650 days), or null for none; got %s", controlplane.MaxExpiration, truncate(num.String()))
	} else if err != nil {
		return nil, errorf(controlplane.EINVALID, "field \"expiration\" must be a number: a whole number of seconds or null, not %s", truncate(num.String()))
	}
	return &v, nil
}

func (s *Server) handleDeleteBroker(w http.ResponseWriter, r *http.Request) {
	if err := s.svc.DeleteBroker(r.Context(), account(r).ID, chi.URLParam(r, "namespace"), chi.URLParam(r, "broker")); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeOK(w, nil)
}
