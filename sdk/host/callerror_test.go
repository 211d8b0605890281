package host

import (
	"errors"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/internal/pb"
)

// A plugin built before an optional call existed answers it from the
// generated stub (pb.UnimplementedPaymentChannelServer); one built after
// but without the call answers through the SDK server. Both are
// sdk.ErrUnimplemented to the host, and nothing else is.
func TestCallErrorUnimplemented(t *testing.T) {
	_, stub := pb.UnimplementedPaymentChannelServer{}.QueryPayment(nil, nil)
	if status.Code(stub) != codes.Unimplemented {
		t.Fatalf("the generated stub answers %v", stub)
	}
	for _, err := range []error{stub, status.Error(codes.Unimplemented, sdk.ErrUnimplemented.Error()+": payment channel x cannot query payments")} {
		got := callError("QueryPayment", err)
		if !errors.Is(got, sdk.ErrUnimplemented) || errors.Is(got, sdk.ErrInvalidInput) {
			t.Errorf("%v: mapped to %v", err, got)
		}
	}
	if got := callError("QueryPayment", status.Error(codes.Unknown, "boom")); errors.Is(got, sdk.ErrUnimplemented) {
		t.Errorf("an ordinary failure mapped to %v", got)
	}
}
