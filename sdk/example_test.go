package sdk_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/lianmeng/lianmeng/sdk"
)

func ExampleDecodeConfig() {
	type offPeak struct {
		MultiplierPermille int64 `json:"multiplier_permille"`
	}
	type config struct {
		PointsPerYuan int64    `json:"points_per_yuan"`
		Timezone      string   `json:"timezone"`
		OffPeak       *offPeak `json:"off_peak"`
	}

	c := config{Timezone: "Asia/Shanghai"} // defaults survive omitted fields
	err := sdk.DecodeConfig([]byte(`{"points_per_yuan": 2}`), &c)
	fmt.Println(c.PointsPerYuan, c.Timezone, err)

	// A typo is refused, not ignored, and the error says where it is.
	err = sdk.DecodeConfig([]byte(`{"points_per_yuan": 2, "off_peak": {"multiplier_permile": 1500}}`), &c)
	fmt.Println(errors.Is(err, sdk.ErrInvalidConfig), err)

	err = sdk.DecodeConfig([]byte(`{"points_per_yuan": 1.5}`), &c)
	fmt.Println(err)
	// Output:
	// 2 Asia/Shanghai <nil>
	// true invalid configuration: unknown field "off_peak.multiplier_permile"
	// invalid configuration: field "points_per_yuan": got number 1.5, want an integer (int64)
}

// WriteManifest is what "PLUGIN describe" prints.
func ExampleWriteManifest() {
	p := sdk.Plugins{EarningRule: &sdk.EarningRule{
		Info: sdk.Info{Name: "hello", Version: "0.1.0", Capabilities: []string{sdk.CapExplain},
			ConfigSchema: json.RawMessage(`{"type":"object"}`)},
		New: newRule,
	}}
	if err := sdk.WriteManifest(os.Stdout, p); err != nil {
		fmt.Println(err)
	}
	// Output:
	// {
	//   "sdk_version": "0.1.0",
	//   "protocol_versions": [
	//     1
	//   ],
	//   "plugins": [
	//     {
	//       "kind": "earning_rule",
	//       "name": "hello",
	//       "version": "0.1.0",
	//       "config_schema": {
	//         "type": "object"
	//       },
	//       "capabilities": [
	//         "earning.explain"
	//       ]
	//     }
	//   ]
	// }
}
