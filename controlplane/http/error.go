package http

import (
	"net/http"

	"github.com/openpubsub/pubsub/controlplane"
)

// errorInfo is how one error code appears on the wire.
type errorInfo struct {
	Status int // HTTP status
	Number int // the envelope's errors[].code; stable, never renumbered
}

// errorTable maps every controlplane error code to its HTTP status and its
// numeric envelope code. It is the single place where that mapping lives;
// README.md documents the same table for API users.
var errorTable = map[string]errorInfo{
	controlplane.EINTERNAL:         {http.StatusInternalServerError, 10500},
	controlplane.EUNAUTHENTICATED:  {http.StatusForbidden, 10000},
	controlplane.EBADCREDENTIALS:   {http.StatusForbidden, 10001},
	controlplane.EFORBIDDEN:        {http.StatusForbidden, 10002},
	controlplane.EMALFORMED:        {http.StatusBadRequest, 10010},
	controlplane.EUNKNOWNFIELD:     {http.StatusBadRequest, 10011},
	controlplane.EINVALID:          {http.StatusBadRequest, 10012},
	controlplane.EINVALIDNAME:      {http.StatusBadRequest, 10013},
	controlplane.ETOOLARGE:         {http.StatusRequestEntityTooLarge, 10014},
	controlplane.ENOROUTE:          {http.StatusNotFound, 10015},
	controlplane.EMETHOD:           {http.StatusMethodNotAllowed, 10016},
	controlplane.ENOTFOUND:         {http.StatusNotFound, 10020},
	controlplane.ECONFLICT:         {http.StatusBadRequest, 10021},
	controlplane.ENOTEMPTY:         {http.StatusBadRequest, 10022},
	controlplane.EAUTHTYPE:         {http.StatusBadRequest, 10030},
	controlplane.EINVALIDCREDPARAM: {http.StatusBadRequest, 10040},
	controlplane.EINVALIDTOPIC:     {http.StatusBadRequest, 10041},
	controlplane.ENOTFOUNDJTI:      {http.StatusNotFound, 10042},
	controlplane.EREVOCATIONLIMIT:  {http.StatusBadRequest, 10043},
	controlplane.EKEYINUSE:         {http.StatusBadRequest, 10044},
}

// infoFor returns the wire form of an error code; unknown codes are internal.
func infoFor(code string) errorInfo {
	if info, ok := errorTable[code]; ok {
		return info
	}
	return errorTable[controlplane.EINTERNAL]
}

// writeError writes err in the envelope. Internal errors are logged with
// their details, and the user sees only a generic message.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := controlplane.ErrorCode(err)
	if code == controlplane.EINTERNAL {
		s.log.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		if controlplane.IsStoreError(err) {
			s.metrics.storeErrors.WithLabelValues(s.routeOf(r)).Inc()
		}
	}
	info := infoFor(code)
	writeJSON(w, info.Status, envelope{
		Result:   nil,
		Success:  false,
		Errors:   []envelopeError{{Code: info.Number, Message: controlplane.ErrorMessage(err)}},
		Messages: []any{},
	})
}
