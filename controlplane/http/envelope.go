package http

import (
	"encoding/json"
	"net/http"
)

// envelope is the Cloudflare v4 response shape used by every response.
type envelope struct {
	Result     any             `json:"result"`
	Success    bool            `json:"success"`
	Errors     []envelopeError `json:"errors"`
	Messages   []any           `json:"messages"`
	ResultInfo *resultInfo     `json:"result_info,omitempty"`
}

type envelopeError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// resultInfo describes the page a list returns.
type resultInfo struct {
	Page       int `json:"page"`
	PerPage    int `json:"per_page"`
	Count      int `json:"count"`
	TotalCount int `json:"total_count"`
}

// writeOK writes a successful envelope around result.
func writeOK(w http.ResponseWriter, result any) {
	writeJSON(w, http.StatusOK, envelope{Result: result, Success: true, Errors: []envelopeError{}, Messages: []any{}})
}

// writeList writes a successful envelope around one page of a list.
func writeList(w http.ResponseWriter, result any, info resultInfo) {
	writeJSON(w, http.StatusOK, envelope{Result: result, Success: true, Errors: []envelopeError{}, Messages: []any{}, ResultInfo: &info})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
