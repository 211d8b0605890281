package witness

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
)

// maxRequest bounds an add-checkpoint body: a checkpoint and at most
// sdk.MaxProofLines proof lines fit in far less.
const maxRequest = 16 << 10

// Handler serves the tlog-witness protocol: POST /add-checkpoint, and
// GET /checkpoint?origin=… for the latest checkpoint this witness cosigned
// (the §5.3 text, for lianmeng verify --checkpoint).
func (w *Witness) Handler(log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /add-checkpoint", func(rw http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, maxRequest))
		if err != nil {
			http.Error(rw, "request too large", http.StatusRequestEntityTooLarge)
			return
		}
		line, err := w.Add(body)
		var conflict *ConflictError
		switch {
		case err == nil:
			rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
			io.WriteString(rw, line)
			return
		case errors.As(err, &conflict):
			rw.Header().Set("Content-Type", "text/x.tlog.size")
			rw.WriteHeader(http.StatusConflict)
			io.WriteString(rw, strconv.FormatUint(conflict.Size, 10)+"\n")
			return
		case errors.Is(err, ErrUnknownLog):
			http.Error(rw, err.Error(), http.StatusNotFound)
		case errors.Is(err, ErrNotSigned):
			http.Error(rw, err.Error(), http.StatusForbidden)
		case errors.Is(err, ErrMalformed), errors.Is(err, ErrOldSize):
			http.Error(rw, err.Error(), http.StatusBadRequest)
		case errors.Is(err, ErrBadProof):
			http.Error(rw, err.Error(), http.StatusUnprocessableEntity)
		default:
			log.Error("witness: add-checkpoint failed", "err", err)
			http.Error(rw, "internal error", http.StatusInternalServerError)
			return
		}
		log.Warn("witness: refused a checkpoint", "err", err)
	})
	mux.HandleFunc("GET /checkpoint", func(rw http.ResponseWriter, r *http.Request) {
		sc, err := w.Latest(r.URL.Query().Get("origin"))
		if errors.Is(err, ErrUnknownLog) || err == nil && sc == nil {
			http.Error(rw, "no checkpoint of that log", http.StatusNotFound)
			return
		} else if err != nil {
			log.Error("witness: read state", "err", err)
			http.Error(rw, "internal error", http.StatusInternalServerError)
			return
		}
		text, err := sc.Marshal()
		if err != nil {
			http.Error(rw, "internal error", http.StatusInternalServerError)
			return
		}
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		rw.Write(text)
	})
	return mux
}
