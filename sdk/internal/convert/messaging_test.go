package convert

import (
	"reflect"
	"testing"

	"github.com/lianmeng/lianmeng/sdk/messaging"
)

// Every field must survive the trip, or a field was added to one side only.
func TestMessagingRoundTrips(t *testing.T) {
	req := messaging.SendRequest{To: "+8613800138000", Purpose: messaging.PurposeRedeemConsent, Code: "1234", Text: "t",
		IdempotencyKey: "k", Locale: "zh-CN"}
	pbReq := SendRequestToPB("sms", req)
	if pbReq.GetInstance() != "sms" {
		t.Errorf("instance %q", pbReq.GetInstance())
	}
	if out := SendRequestFromPB(pbReq); !reflect.DeepEqual(req, out) {
		t.Errorf("messaging.SendRequest changed in transit:\n in: %+v\nout: %+v", req, out)
	}
	// No field left at its zero value, so a new field that is not converted
	// shows up here too.
	v := reflect.ValueOf(req)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Errorf("sample leaves %s empty", v.Type().Field(i).Name)
		}
	}
	res := messaging.SendResponse{ProviderMessageID: "p"}
	if out := SendResponseFromPB(SendResponseToPB(res)); out != res {
		t.Errorf("messaging.SendResponse changed in transit: %+v", out)
	}
}
