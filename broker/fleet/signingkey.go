package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/openpubsub/pubsub/broker"
	"github.com/openpubsub/pubsub/pkg/feed"
)

// signingKeyTimeout bounds one forwarded `POST /admin/keys`.
const signingKeyTimeout = 10 * time.Second

// CreateSigningKey implements broker.KeyIssuer: it forwards a client's
// account credentials to the control plane with the node token.
func (c *Client) CreateSigningKey(ctx context.Context, brokerID string, creds broker.AccountCredentials) (*broker.NewSigningKey, error) {
	body, err := json.Marshal(map[string]string{"broker_id": brokerID, "api_token": creds.APIToken, "email": creds.Email, "api_key": creds.APIKey})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, signingKeyTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.URL+feed.SigningKeysPath, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	req.Header.Set("Content-Type", "application/json")
	res, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		c.cfg.Log.Warn("cannot reach the control plane to create a signing key", "err", err)
		return nil, broker.Errorf(broker.EUNAVAILABLE, "the control plane cannot be reached")
	}
	defer res.Body.Close()
	var env struct {
		Result *broker.NewSigningKey `json:"result"`
		Errors []struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 64<<10)).Decode(&env); err != nil {
		return nil, broker.Errorf(broker.EUNAVAILABLE, "the control plane answered %d without an envelope", res.StatusCode)
	}
	if res.StatusCode == http.StatusOK && env.Result != nil {
		return env.Result, nil
	}
	var code int
	var msg string
	if len(env.Errors) > 0 {
		code, msg = env.Errors[0].Code, env.Errors[0].Message
	}
	// The control plane's stable error numbers (controlplane/http/error.go).
	switch code {
	case 10000:
		return nil, broker.Errorf(broker.EUNAUTHENTICATED, "%s", msg)
	case 10002:
		return nil, broker.Errorf(broker.EFORBIDDEN, "%s", msg)
	case 10012:
		return nil, broker.Errorf(broker.EFORBIDDEN, "%s", msg) // e.g. too many keys
	}
	c.cfg.Log.Warn("the control plane refused to create a signing key", "status", res.StatusCode, "code", code, "message", msg)
	return nil, broker.Errorf(broker.EUNAVAILABLE, "the control plane could not create the key")
}
