package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

// quorumProvider is an evidence provider whose checkpoints go to witnesses.
type quorumProvider struct {
	EvidenceProvider
	err error
}

func (q quorumProvider) WitnessQuorum(context.Context) error { return q.err }

// /readyz shows evidence_witnesses: ok with a quorum, degraded (200)
// without one; no such check without witnesses.
func TestReadyzWitnessQuorum(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	base := evSetup(t, db, true)
	for _, tc := range []struct {
		err        error
		want, desc string
	}{
		{nil, ReadyOK, "quorum"},
		{fmt.Errorf("%w: checkpoint 9 has 0 of 2", ErrDegraded), ReadyDegraded, "no quorum"},
		{errors.New("database gone"), ReadyFailing, "failure"},
	} {
		d := Deps{Config: fndConfig(), DB: db, Log: fndLogger(), Evidence: quorumProvider{base.srv.evidence, tc.err}}
		r := readyz(t, New(d))
		if got := r.Checks["evidence_witnesses"]; got != tc.want {
			t.Errorf("%s: evidence_witnesses %q, want %q (%+v)", tc.desc, got, tc.want, r)
		}
	}
	r := readyz(t, base.srv)
	if _, ok := r.Checks["evidence_witnesses"]; ok {
		t.Errorf("evidence_witnesses checked without witnesses: %+v", r)
	}
}

func readyz(t *testing.T, s *Server) readyResult {
	t.Helper()
	resp, err := s.App().Test(httptest.NewRequest("GET", "/readyz", nil), -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r readyResult
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	return r
}
