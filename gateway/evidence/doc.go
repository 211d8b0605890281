// Package evidence is the gateway side of the tamper-evident log (DESIGN §8):
// it turns ledger transactions and administrative actions into canonical
// entries, appends them to an SM3 hash chain and an RFC 6962 Merkle tree
// with SM3, signs checkpoints with SM2, and serves inclusion and consistency
// proofs.
//
// The pure, verifier-side code (entry encoding, hasher, chain, checkpoint
// format, proof verification) lives in github.com/lianmeng/lianmeng/sdk/evidence
// so that members and auditors can import it without the gateway; this
// package re-exports those names so the sealer needs one import.
//
// A sealer uses it like this:
//
//	log, _ := evidence.RestoreLog(savedState)     // or evidence.NewLog()
//	for _, tx := range batch {
//		data, _ := evidence.EncodeTx(tx)
//		leafHash, chain := log.Append(data)      // store both with the entry
//	}
//	cp := evidence.Checkpoint{Origin: origin, Size: log.Size(), Root: log.Root(),
//		ChainHead: log.ChainHead(), Time: now}
//	signed, _ := signer.Sign(cp)                   // store signed.Marshal()
//	saveState(log.State())
//
// The tree is stored as tiles (C2SP tlog-tiles): the sealer keeps only a
// compact range and the rightmost tile of each level, and Proofs computes
// every proof from stored tiles. Witnesses and receipts are in
// gateway/witness and Receipts. Nothing here does SQL or HTTP.
package evidence
