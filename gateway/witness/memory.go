package witness

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	sdk "github.com/lianmeng/lianmeng/sdk/evidence"
)

// RemoteMemory is an evidence.Memory read from a witness: the latest
// checkpoint of the log it cosigned (GET /checkpoint), verified with the
// log's own key. The sealer then refuses a database behind what the
// witness holds, even if the local memory file was lost with the database.
// Saving is the submitter's job, so Save does nothing. A witness that does
// not answer is logged and skipped: it must not stop the sealer.
type RemoteMemory struct {
	URL    string
	Origin string
	Key    *ecdsa.PublicKey // the log's checkpoint key
	Client *http.Client
	Log    *slog.Logger
}

// Load implements evidence.Memory.
func (m RemoteMemory) Load() (*sdk.SignedCheckpoint, error) {
	c := m.Client
	if c == nil {
		c = &http.Client{Timeout: 5 * time.Second}
	}
	log := m.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.URL+"/checkpoint?origin="+url.QueryEscape(m.Origin), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		log.Warn("evidence: witness did not answer for its latest checkpoint; not consulted", "witness", m.URL, "err", err)
		return nil, nil
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8192))
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, nil // it has cosigned nothing of this log yet
	case err != nil || resp.StatusCode != http.StatusOK:
		log.Warn("evidence: witness's latest checkpoint unavailable; not consulted", "witness", m.URL, "status", resp.StatusCode, "err", err)
		return nil, nil
	}
	sc, err := sdk.ParseSignedCheckpoint(b)
	if err == nil {
		err = sdk.VerifyCheckpoint(m.Key, sc)
	}
	if err == nil && sc.Origin != m.Origin {
		err = fmt.Errorf("checkpoint of log %q", sc.Origin)
	}
	if err != nil {
		log.Warn("evidence: witness's latest checkpoint does not verify with the log's key; not consulted", "witness", m.URL, "err", err)
		return nil, nil
	}
	return &sc, nil
}

// Save implements evidence.Memory: the witness learns checkpoints by
// cosigning them.
func (RemoteMemory) Save(sdk.SignedCheckpoint) error { return nil }
