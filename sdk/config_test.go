package sdk_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/sdk"
)

type window struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

type common struct {
	Timezone string `json:"timezone"`
}

type testConfig struct {
	common
	PointsPerYuan int64            `json:"points_per_yuan"`
	Categories    []string         `json:"categories"`
	Bonus         map[string]int64 `json:"bonus"`
	OffPeak       *struct {
		Windows []window `json:"windows"`
		Max     int64    `json:"max_bonus_points"`
	} `json:"off_peak"`
	Grace  time.Duration `json:"grace"`
	Hidden string        `json:"-"`
}

func TestDecodeConfigAccepts(t *testing.T) {
	c := testConfig{PointsPerYuan: 1, Categories: []string{"tip"}}
	c.Timezone = "Asia/Shanghai"
	err := sdk.DecodeConfig([]byte(` {"points_per_yuan": 3, "bonus": {"gold": 500},
		"off_peak": {"windows": [{"start": "14:00", "end": "17:00"}], "max_bonus_points": 9}} `), &c)
	if err != nil {
		t.Fatal(err)
	}
	if c.PointsPerYuan != 3 || c.Bonus["gold"] != 500 || c.OffPeak.Windows[0].End != "17:00" || c.OffPeak.Max != 9 {
		t.Fatalf("decoded %+v", c)
	}
	if c.Timezone != "Asia/Shanghai" || len(c.Categories) != 1 {
		t.Fatalf("defaults of omitted fields were lost: %+v", c)
	}
	// Promoted fields of an embedded struct are known fields.
	if err := sdk.DecodeConfig([]byte(`{"timezone": "UTC"}`), &c); err != nil || c.Timezone != "UTC" {
		t.Fatalf("embedded field: %v, %q", err, c.Timezone)
	}
	// Empty input is an empty object: all defaults.
	for _, in := range []string{"", "  \n", "{}"} {
		d := testConfig{PointsPerYuan: 7}
		if err := sdk.DecodeConfig([]byte(in), &d); err != nil || d.PointsPerYuan != 7 {
			t.Fatalf("%q: %v, %+v", in, err, d)
		}
	}
}

func TestDecodeConfigRefuses(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"unknown top-level field", `{"points_per_yuan": 1, "pionts": 2}`, `unknown field "pionts"`},
		{"unknown nested field", `{"off_peak": {"windows": [], "cap": 3}}`, `unknown field "off_peak.cap"`},
		{"unknown field in an array element", `{"off_peak": {"windows": [{"start": "1"}, {"start": "2", "stop": "3"}]}}`, `unknown field "off_peak.windows[1].stop"`},
		{"ignored field is unknown", `{"Hidden": "x"}`, `unknown field "Hidden"`},
		{"float for an integer", `{"points_per_yuan": 1.5}`, `field "points_per_yuan": got number 1.5, want an integer (int64)`},
		{"string for an integer", `{"points_per_yuan": "2"}`, `field "points_per_yuan": got string, want an integer (int64)`},
		{"wrong type nested", `{"off_peak": {"max_bonus_points": true}}`, `field "off_peak.max_bonus_points": got bool`},
		{"wrong map value", `{"bonus": {"gold": "x"}}`, `field "bonus": got string`},
		{"array", `[1, 2]`, "want a JSON object, got an array"},
		{"null", `null`, "want a JSON object, got null"},
		{"number", `42`, "want a JSON object, got a number"},
		{"yaml", `points_per_yuan: 1`, "want a JSON object, got something that is not JSON"},
		{"syntax", `{"points_per_yuan": 1,}`, "not valid JSON at byte"},
		{"truncated", `{"points_per_yuan": 1`, "cut short"},
		{"trailing object", `{"points_per_yuan": 1} {}`, "trailing data"},
		{"trailing garbage", `{"points_per_yuan": 1} x`, "trailing data"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var cfg testConfig
			err := sdk.DecodeConfig([]byte(c.in), &cfg)
			if !errors.Is(err, sdk.ErrInvalidConfig) {
				t.Fatalf("want sdk.ErrInvalidConfig, got %v", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not say %q", err, c.want)
			}
		})
	}
}

func TestDecodeConfigNeedsPointer(t *testing.T) {
	var c testConfig
	for _, v := range []any{c, (*testConfig)(nil), nil} {
		err := sdk.DecodeConfig([]byte(`{}`), v)
		if err == nil || errors.Is(err, sdk.ErrInvalidConfig) {
			t.Fatalf("%T: want a programming error, got %v", v, err)
		}
	}
}
