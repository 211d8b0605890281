package config

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration written as "5s", "10m", "720h" in YAML.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	dd, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (use e.g. 5s, 10m, 720h)", n.Line, n.Value)
	}
	*d = Duration(dd)
	return nil
}

func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// Secret is a string that never prints. In YAML it may be given inline or as
// {file: path}, which reads and trims the file.
type Secret string

// Reveal returns the secret value; call it only where the value is used.
func (s Secret) Reveal() string { return string(s) }

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "******"
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return `config.Secret("******")` }

// Format masks the value under every verb: without it, verbs that bypass
// String (%d, %t, ...) print the raw string inside fmt's %!d(...) notice.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		io.WriteString(f, s.GoString())
		return
	}
	io.WriteString(f, s.String())
}

// MarshalJSON masks the value, so JSON logs and dumps never carry it.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

func (s *Secret) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.MappingNode {
		var f struct {
			File string `yaml:"file"`
		}
		if err := n.Decode(&f); err != nil || f.File == "" {
			return fmt.Errorf("line %d: a secret is a string or {file: path}", n.Line)
		}
		b, err := os.ReadFile(f.File)
		if err != nil {
			return fmt.Errorf("line %d: read secret file: %v", n.Line, err)
		}
		*s = Secret(strings.TrimSpace(string(b)))
		return nil
	}
	*s = Secret(n.Value)
	return nil
}
