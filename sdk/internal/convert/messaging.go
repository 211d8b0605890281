package convert

import (
	"github.com/lianmeng/lianmeng/sdk/internal/pb"
	"github.com/lianmeng/lianmeng/sdk/messaging"
)

// SendRequestToPB converts a message for the named instance.
func SendRequestToPB(instance string, r messaging.SendRequest) *pb.SendRequest {
	return &pb.SendRequest{Instance: instance, To: r.To, Purpose: r.Purpose, Code: r.Code, Text: r.Text,
		IdempotencyKey: r.IdempotencyKey, Locale: r.Locale}
}

// SendRequestFromPB converts a message.
func SendRequestFromPB(r *pb.SendRequest) messaging.SendRequest {
	return messaging.SendRequest{To: r.GetTo(), Purpose: r.GetPurpose(), Code: r.GetCode(), Text: r.GetText(),
		IdempotencyKey: r.GetIdempotencyKey(), Locale: r.GetLocale()}
}

// SendResponseToPB converts a provider's acceptance.
func SendResponseToPB(r messaging.SendResponse) *pb.SendResponse {
	return &pb.SendResponse{ProviderMessageId: r.ProviderMessageID}
}

// SendResponseFromPB converts a provider's acceptance.
func SendResponseFromPB(r *pb.SendResponse) messaging.SendResponse {
	return messaging.SendResponse{ProviderMessageID: r.GetProviderMessageId()}
}
