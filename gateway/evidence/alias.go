package evidence

import sdk "github.com/lianmeng/lianmeng/sdk/evidence"

// Entry types and encoding (canonical bytes, docs/evidence.md §2).
type (
	TxRecord    = sdk.TxRecord
	Posting     = sdk.Posting
	AuditRecord = sdk.AuditRecord
)

// Log state, chain and checkpoints.
type (
	Log              = sdk.Log
	LogState         = sdk.LogState
	SealedEntry      = sdk.SealedEntry
	DivergenceError  = sdk.DivergenceError
	Checkpoint       = sdk.Checkpoint
	SignedCheckpoint = sdk.SignedCheckpoint
	Receipt          = sdk.Receipt
	SignedReceipt    = sdk.SignedReceipt
)

// ReceiptHeader is the HTTP header carrying a receipt (docs/evidence.md §15).
const ReceiptHeader = sdk.ReceiptHeader

// Re-exported functions; see the sdk package for their documentation.
var (
	EncodeTx              = sdk.EncodeTx
	EncodeAudit           = sdk.EncodeAudit
	DecodeEntry           = sdk.DecodeEntry
	LeafHash              = sdk.LeafHash
	ChainGenesis          = sdk.ChainGenesis
	ChainNext             = sdk.ChainNext
	NewLog                = sdk.NewLog
	RestoreLog            = sdk.RestoreLog
	VerifyChain           = sdk.VerifyChain
	ParseCheckpoint       = sdk.ParseCheckpoint
	ParseSignedCheckpoint = sdk.ParseSignedCheckpoint
	VerifyCheckpoint      = sdk.VerifyCheckpoint
	KeyID                 = sdk.KeyID
	ParsePublicKeyPEM     = sdk.ParsePublicKeyPEM
	VerifyReceipt         = sdk.VerifyReceipt
	TilePath              = sdk.TilePath
	ParseTilePath         = sdk.ParseTilePath
)
