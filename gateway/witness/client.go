package witness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lianmeng/lianmeng/gateway/evidence"
	sdk "github.com/lianmeng/lianmeng/sdk/evidence"
)

// Remote is a witness the gateway submits checkpoints to.
type Remote struct {
	URL string         // base URL; the request goes to URL + "/add-checkpoint"
	Key sdk.WitnessKey // its verifier key, to check the cosignatures it returns
}

// ErrNoQuorum: the latest checkpoint lacks the configured number of
// cosignatures (readiness reports it as degraded).
var ErrNoQuorum = errors.New("witness: the latest checkpoint lacks a quorum of cosignatures")

// Submitter sends each new checkpoint of the log to the configured
// witnesses with a consistency proof from the size each last cosigned
// (computed from the tiles), checks and stores the cosignatures they
// return, and reports whether the latest checkpoint has a quorum. Any
// number of instances may run one: a witness cosigns the same checkpoint
// again, and a cosignature is stored once.
type Submitter struct {
	st      evidence.Store
	proofs  *evidence.Proofs
	remotes []Remote
	quorum  int
	client  *http.Client
	log     *slog.Logger
	now     func() time.Time
	// Grace is how long a new checkpoint may lack its quorum before
	// Quorum reports it (default 30 s).
	Grace time.Duration

	mu         sync.Mutex
	known      map[string]uint64 // witness name -> size it last cosigned
	lastQuorum time.Time         // when a latest checkpoint last had its quorum (start: creation)
}

// NewSubmitter returns a submitter to remotes, of which quorum must
// cosign each checkpoint.
func NewSubmitter(st evidence.Store, proofs *evidence.Proofs, remotes []Remote, quorum int, client *http.Client, log *slog.Logger) *Submitter {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Submitter{st: st, proofs: proofs, remotes: remotes, quorum: quorum, client: client, log: log, now: time.Now,
		Grace: 30 * time.Second, known: map[string]uint64{}, lastQuorum: time.Now()}
}

// Run submits every poll until ctx ends.
func (s *Submitter) Run(ctx context.Context, poll time.Duration) {
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		if err := s.SubmitOnce(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("evidence witnesses: submission incomplete", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// SubmitOnce submits the latest checkpoint to every witness that has not
// cosigned it yet. It returns the witnesses' refusals joined.
func (s *Submitter) SubmitOnce(ctx context.Context) error {
	cp, err := s.st.LatestCheckpoint(ctx)
	if errors.Is(err, evidence.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	have, err := s.st.Cosignatures(ctx, cp.Signed.Size)
	if err != nil {
		return err
	}
	done := map[string]bool{}
	for _, c := range have {
		done[c.Witness] = true
	}
	var errs []error
	for _, r := range s.remotes {
		if done[r.Key.Name] {
			continue
		}
		if err := s.submit(ctx, r, cp.Signed); err != nil {
			errs = append(errs, fmt.Errorf("witness %s: %w", r.Key.Name, err))
		}
	}
	if err := s.Quorum(ctx); err != nil && !errors.Is(err, ErrNoQuorum) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// submit sends sc to r, from the size r is known to hold (0 at first: a
// 409 answer tells the real one, and the request is made again once).
func (s *Submitter) submit(ctx context.Context, r Remote, sc sdk.SignedCheckpoint) error {
	signed, err := sc.Marshal()
	if err != nil {
		return err
	}
	body, err := sc.Body()
	if err != nil {
		return err
	}
	s.mu.Lock()
	old := s.known[r.Key.Name]
	s.mu.Unlock()
	for attempt := 0; attempt < 2; attempt++ {
		if old > sc.Size {
			// The witness cosigned a larger log than the database now holds:
			// the log was cut back. It will never cosign this one.
			s.log.Error("!!! EVIDENCE LOG BEHIND A WITNESS: the witness cosigned a larger checkpoint than the log's latest; the log was truncated or rolled back (lianmeng verify --checkpoint with the witness's checkpoint shows the loss) !!!",
				"witness", r.Key.Name, "witness_size", old, "log_size", sc.Size)
			return fmt.Errorf("witness holds size %d, larger than the log's latest checkpoint %d: the log was cut back", old, sc.Size)
		}
		var proof [][]byte
		if old > 0 && old < sc.Size {
			cp, err := s.proofs.Consistency(ctx, old, sc.Size)
			if err != nil {
				return fmt.Errorf("consistency proof %d→%d: %w", old, sc.Size, err)
			}
			proof = cp.Proof
		}
		status, answer, err := s.post(ctx, r.URL+"/add-checkpoint", sdk.FormatAddCheckpoint(old, proof, signed))
		if err != nil {
			return err
		}
		switch status {
		case http.StatusOK:
			line := strings.TrimSuffix(string(answer), "\n")
			at, err := sdk.VerifyCosignature(r.Key, body, line)
			if err != nil {
				return fmt.Errorf("cosignature: %w", err)
			}
			if err := s.st.AddCosignature(ctx, sc.Size, evidence.Cosignature{Witness: r.Key.Name, Line: line, Time: at}); err != nil {
				return err
			}
			s.remember(r.Key.Name, sc.Size)
			return nil
		case http.StatusConflict:
			n, err := strconv.ParseUint(strings.TrimSpace(string(answer)), 10, 64)
			if err != nil {
				return fmt.Errorf("409 without a size: %q", answer)
			}
			old = n
			s.remember(r.Key.Name, n)
			continue
		case http.StatusUnprocessableEntity:
			s.log.Error("!!! A WITNESS REFUSED THE LOG'S CHECKPOINT AS INCONSISTENT with the one it cosigned before: the log was rewritten (or forked) !!!",
				"witness", r.Key.Name, "size", sc.Size, "from", old, "answer", strings.TrimSpace(string(answer)))
			return fmt.Errorf("refused as inconsistent with size %d (422): %s", old, strings.TrimSpace(string(answer)))
		default:
			return fmt.Errorf("status %d: %s", status, strings.TrimSpace(string(answer)))
		}
	}
	return fmt.Errorf("the witness's size keeps changing")
}

func (s *Submitter) remember(name string, size uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.known[name] = size
}

func (s *Submitter) post(ctx context.Context, url string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, b, err
}

// Quorum reports ErrNoQuorum when the latest checkpoint has fewer
// cosignatures than the quorum and no latest checkpoint had its quorum for
// Grace (checkpoints follow each other faster than witnesses answer, so
// one young checkpoint without its quorum is normal). Nil without
// witnesses.
func (s *Submitter) Quorum(ctx context.Context) error {
	if s.quorum <= 0 {
		return nil
	}
	cp, err := s.st.LatestCheckpoint(ctx)
	if errors.Is(err, evidence.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	have, err := s.st.Cosignatures(ctx, cp.Signed.Size)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if len(have) >= s.quorum {
		s.lastQuorum = now
		return nil
	}
	if now.Sub(s.lastQuorum) > s.Grace {
		return fmt.Errorf("%w: checkpoint %d has %d of %d, and none had its quorum for %s", ErrNoQuorum, cp.Signed.Size, len(have), s.quorum, now.Sub(s.lastQuorum).Round(time.Second))
	}
	return nil
}
