package messaging

import (
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	good := SendRequest{To: "+8613800138000", Purpose: PurposeSignIn, Code: "123456", IdempotencyKey: "k"}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(*SendRequest)
		want string
	}{
		{"no_plus", func(r *SendRequest) { r.To = "13800138000" }, ""},
		{"text_only", func(r *SendRequest) { r.Code, r.Text = "", "code 1" }, ""},
		{"empty_to", func(r *SendRequest) { r.To = "" }, "phone"},
		{"plus_only", func(r *SendRequest) { r.To = "+" }, "phone"},
		{"short", func(r *SendRequest) { r.To = "+1234" }, "phone"},
		{"long", func(r *SendRequest) { r.To = "+1234567890123456" }, "phone"},
		{"dashes", func(r *SendRequest) { r.To = "+86-138" }, "phone"},
		{"space", func(r *SendRequest) { r.To = " 13800138000" }, "phone"},
		{"two_plus", func(r *SendRequest) { r.To = "++8613800138000" }, "phone"},
		{"no_purpose", func(r *SendRequest) { r.Purpose = "" }, "purpose"},
		{"nothing_to_send", func(r *SendRequest) { r.Code = "" }, "neither code nor text"},
		{"long_code", func(r *SendRequest) { r.Code = strings.Repeat("1", MaxCodeBytes+1) }, "code is"},
		{"long_text", func(r *SendRequest) { r.Text = strings.Repeat("x", MaxTextBytes+1) }, "text is"},
		{"bad_utf8", func(r *SendRequest) { r.Text = "\xff" }, "UTF-8"},
		{"no_key", func(r *SendRequest) { r.IdempotencyKey = "" }, "idempotency_key is empty"},
		{"long_key", func(r *SendRequest) { r.IdempotencyKey = strings.Repeat("k", MaxIdempotencyKeyBytes+1) }, "idempotency_key is"},
	} {
		r := good
		tc.edit(&r)
		err := r.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
}
