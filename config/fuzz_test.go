package config

import (
	"os"
	"strings"
	"testing"
)

// FuzzDecode: no config text makes the loader panic or hang, and one it accepts has tenants
// with valid, distinct ids and a store URL. The loader reads no secret file here (decode and
// Validate only). The seeds run in `make test`; `make fuzz` explores.
func FuzzDecode(f *testing.F) {
	if readme, err := os.ReadFile("../README.md"); err == nil {
		s := string(readme)
		if i, j := strings.Index(s, "```yaml\n# The state store"), strings.Index(s, "<!-- /config-reference -->"); i >= 0 && j > i {
			block := s[i+len("```yaml\n") : j]
			f.Add([]byte(block[:strings.LastIndex(block, "```")]))
		}
	}
	f.Add([]byte(sample))
	f.Add([]byte("tenants:\n  - id: a\n    mappings: {persons: {pw: \"string(userid/@password)\"}}\n"))
	f.Add([]byte("tenants:\n  - &t {id: a, max_text_size: 1KB}\n  - *t\n"))
	f.Add([]byte("store: [\ntenants: {id: 1}\nlock_wait: -1\n"))
	f.Add([]byte("tenants:\n  - id: b\n    safety: {persons: {deletes: {max_percent: 200%}}}\n    pauses: [{from: 2026-13-01}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return // a config is small; YAML alias bombs are yaml.v3's to bound
		}
		cfg, err := decode(data)
		if err != nil {
			return
		}
		if err := cfg.Validate(); err != nil {
			return
		}
		seen := map[string]bool{}
		for _, tn := range cfg.Tenants {
			if !tenantID.MatchString(tn.ID) || seen[tn.ID] {
				t.Errorf("accepted tenant id %q", tn.ID)
			}
			seen[tn.ID] = true
			if tn.MaxAttributes <= 0 || tn.MaxRecordSize <= 0 || tn.MaxTextSize <= 0 {
				t.Errorf("tenant %s: reader limits %d %d %d", tn.ID, tn.MaxAttributes, tn.MaxRecordSize, tn.MaxTextSize)
			}
			for typ := range tn.Mappings {
				if _, ok := recordType(typ); !ok {
					t.Errorf("accepted mapping type %q", typ)
				}
			}
		}
		if cfg.Store == "" {
			t.Error("accepted an empty store")
		}
	})
}
