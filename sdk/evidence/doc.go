// Package evidence verifies the Lianmeng evidence log offline.
//
// A Lianmeng gateway appends every ledger transaction and administrative
// action, encoded canonically (EncodeTx, EncodeAudit), to an SM3 hash chain
// (ChainNext) and to an RFC 6962 Merkle tree whose hash is SM3 (Hasher), and
// periodically publishes a Checkpoint of the tree's size, root and chain
// head, signed with the operator's SM2 key.
//
// With the operator's public key (ParsePublicKeyPEM) a member or an auditor
// can check, without trusting the gateway:
//
//   - that a checkpoint is genuine (VerifyCheckpoint);
//   - that a transaction is in the log (VerifyInclusion, VerifyCheckpointInclusion);
//   - that a later checkpoint extends an earlier one, so nothing published
//     was rewritten (VerifyConsistency);
//   - given the full log, that every stored chain value and checkpoint
//     recomputes (Log.Check, Log.CheckCheckpoint, VerifyChain).
//
// The byte formats are specified in docs/evidence.md for verifiers written
// in other languages. This package depends only on the standard library,
// github.com/emmansun/gmsm and github.com/transparency-dev/merkle.
package evidence
