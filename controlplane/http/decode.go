package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/openpubsub/pubsub/controlplane"
)

// MaxBodyBytes is the largest request body the API reads.
const MaxBodyBytes = 1 << 20

// readBody reads the whole body, answering ETOOLARGE past MaxBodyBytes.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > MaxBodyBytes {
		return nil, errTooLarge
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, errTooLarge
	} else if err != nil {
		return nil, controlplane.Errorf(controlplane.EMALFORMED, "could not read the request body: %v", err)
	}
	return b, nil
}

var errTooLarge = controlplane.Errorf(controlplane.ETOOLARGE, "request body is larger than %d bytes", MaxBodyBytes)

// decodeBody decodes a JSON object body into v, rejecting unknown fields,
// trailing data and wrong types with a message that names the problem.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return controlplane.Errorf(controlplane.EMALFORMED, "request body is empty; send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if dec.More() {
		return controlplane.Errorf(controlplane.EMALFORMED, "malformed JSON: unexpected data after the JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return controlplane.Errorf(controlplane.EMALFORMED, "malformed JSON: unexpected data after the JSON object")
	}
	return nil
}

// decodeError turns an encoding/json error into an *Error naming the problem.
func decodeError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return controlplane.Errorf(controlplane.EMALFORMED, "malformed JSON at byte %d: %v", syn.Offset, err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return controlplane.Errorf(controlplane.EMALFORMED, "malformed JSON: the body ends before the JSON object does")
	case errors.As(err, &typ):
		if typ.Field == "" {
			return controlplane.Errorf(controlplane.EMALFORMED, "the request body must be a JSON object, not %s", typ.Value)
		}
		return controlplane.Errorf(controlplane.EINVALID, "field %q must be %s, not %s", typ.Field, jsonType(typ.Type.Kind().String()), typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.TrimPrefix(err.Error(), "json: unknown field ")
		return controlplane.Errorf(controlplane.EUNKNOWNFIELD, "unknown field %s in the request body", field)
	}
	var cerr *controlplane.Error
	if errors.As(err, &cerr) {
		return cerr
	}
	return controlplane.Errorf(controlplane.EMALFORMED, "malformed JSON: %v", err)
}

func jsonType(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "int", "int64", "int32", "uint", "uint64", "float64":
		return "a number"
	case "bool":
		return "true or false"
	case "struct", "map", "ptr":
		return "an object"
	case "slice":
		return "an array"
	}
	return kind
}

// DefaultPerPage is the page size of lists when per_page is not given.
const DefaultPerPage = 20

// parsePage reads page and per_page from the query.
func parsePage(r *http.Request) (controlplane.Page, error) {
	p := controlplane.Page{Page: 1, PerPage: DefaultPerPage}
	q := r.URL.Query()
	for _, f := range []struct {
		name string
		dst  *int
		max  int
	}{{"page", &p.Page, 1 << 30}, {"per_page", &p.PerPage, controlplane.MaxPerPage}} {
		raw := q.Get(f.name)
		if raw == "" {
			continue
		}
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > f.max {
			return p, controlplane.Errorf(controlplane.EINVALID, "%s must be a whole number from 1 to %d, got %q", f.name, f.max, raw)
		}
		*f.dst = n
	}
	return p, nil
}

// listInfo builds the result_info of a page.
func listInfo(p controlplane.Page, count, total int) resultInfo {
	return resultInfo{Page: p.Page, PerPage: p.PerPage, Count: count, TotalCount: total}
}

// queryValues returns every value of a repeatable query parameter, also
// splitting comma-separated values, so ?jti=a,b and ?jti=a&jti=b agree.
func queryValues(r *http.Request, name string) []string {
	var out []string
	for _, v := range r.URL.Query()[name] {
		for _, part := range strings.Split(v, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
	}
	return out
}

func errorf(code, format string, args ...any) error {
	return controlplane.Errorf(code, format, args...)
}
