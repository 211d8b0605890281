package convert

import (
	"time"

	"github.com/lianmeng/lianmeng/sdk/internal/pb"
	"github.com/lianmeng/lianmeng/sdk/pos"
)

// PollRequestToPB converts a poll call.
func PollRequestToPB(instance string, r pos.PollRequest) *pb.PollRequest {
	out := &pb.PollRequest{Instance: instance, MerchantConfigJson: r.MerchantConfig, MerchantId: r.MerchantID, Cursor: r.Cursor}
	if !r.Now.IsZero() {
		out.NowUnixMs = r.Now.UnixMilli()
	}
	return out
}

// PollRequestFromPB converts a poll call.
func PollRequestFromPB(r *pb.PollRequest) pos.PollRequest {
	out := pos.PollRequest{MerchantID: r.GetMerchantId(), MerchantConfig: r.GetMerchantConfigJson(), Cursor: r.GetCursor()}
	if ms := r.GetNowUnixMs(); ms != 0 {
		out.Now = time.UnixMilli(ms).UTC()
	}
	return out
}

// PollResultToPB converts a page.
func PollResultToPB(r pos.PollResult) *pb.PollResponse {
	out := &pb.PollResponse{Cursor: r.Cursor, More: r.More, ProviderError: r.ProviderError}
	for _, rec := range r.Records {
		out.Records = append(out.Records, &pb.PollRecord{Id: rec.ID, Request: HTTPRequestToPB(rec.Request)})
	}
	return out
}

// PollResultFromPB converts a page.
func PollResultFromPB(r *pb.PollResponse) pos.PollResult {
	out := pos.PollResult{Cursor: r.GetCursor(), More: r.GetMore(), ProviderError: r.GetProviderError()}
	for _, rec := range r.GetRecords() {
		out.Records = append(out.Records, pos.Record{ID: rec.GetId(), Request: HTTPRequestFromPB(rec.GetRequest())})
	}
	return out
}
