package api

// EvidenceProvider serves checkpoints and proofs (filled in by the evidence
// integration).
type EvidenceProvider interface{}

// routesEvidence registers the evidence routes.
func (s *Server) routesEvidence() {}
