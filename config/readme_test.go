package config

import (
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/safety"
)

// readmeReference returns the YAML block between the config-reference markers of README.md.
func readmeReference(t *testing.T) []byte {
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	start := strings.Index(s, "<!-- config-reference -->")
	end := strings.Index(s, "<!-- /config-reference -->")
	if start < 0 || end < start {
		t.Fatal("README.md has no <!-- config-reference --> block")
	}
	block := s[start:end]
	block = block[strings.Index(block, "```yaml")+len("```yaml"):]
	return []byte(block[:strings.LastIndex(block, "```")])
}

// TestReadmeReferenceIsAcceptedByTheLoader: every key in the README's reference decodes and
// validates (only the secret files it names are not read).
func TestReadmeReferenceIsAcceptedByTheLoader(t *testing.T) {
	cfg, err := decode(readmeReference(t))
	if err != nil {
		t.Fatalf("the README's configuration reference does not load: %v", err)
	}
	cfg.SMTP.Password = "from password_file"
	cfg.SMTP.CAFile = "" // the example names a file this machine does not have
	if err := cfg.Validate(); err != nil {
		t.Fatalf("the README's configuration reference does not validate: %v", err)
	}
}

// TestEveryLoaderKeyIsInTheReadme: every key the loader accepts appears in the reference.
func TestEveryLoaderKeyIsInTheReadme(t *testing.T) {
	var doc yaml.Node
	if err := yaml.Unmarshal(readmeReference(t), &doc); err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	names := map[string]bool{} // key names anywhere under safety
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			walk(n.Content[0], path)
		case yaml.SequenceNode:
			for _, c := range n.Content {
				walk(c, path+"[]")
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				p := join(path, n.Content[i].Value)
				documented[p] = true
				if strings.Contains(p, ".safety.") {
					names[n.Content[i].Value] = true
				}
				walk(n.Content[i+1], p)
			}
		}
	}
	walk(&doc, "")

	var missing []string
	for _, p := range loaderKeys(reflect.TypeFor[Config](), "") {
		if !documented[p] {
			missing = append(missing, p)
		}
	}
	for _, p := range safety.KeyPaths() {
		parts := strings.Split(p, ".")
		if !names[parts[len(parts)-1]] {
			missing = append(missing, "tenants[].safety."+p)
		}
	}
	for _, rt := range record.Types {
		if p := "tenants[].mappings." + rt.String(); !documented[p] {
			missing = append(missing, p)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("keys the loader accepts but the README's configuration reference does not show:\n  %s", strings.Join(missing, "\n  "))
	}
}

// loaderKeys lists the key paths of a config type by its yaml tags, stopping at types that
// decode themselves (safety.Policy) and at maps (mappings, checked above).
func loaderKeys(t reflect.Type, path string) []string {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		if t.Kind() == reflect.Slice {
			if t.Elem().Kind() != reflect.Struct {
				return nil
			}
			path += "[]"
		}
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t == reflect.TypeFor[Date]() {
		return nil
	}
	if t != reflect.TypeFor[Tenant]() && reflect.PointerTo(t).Implements(unmarshalerType) {
		return nil
	}
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == "-" || !f.IsExported() {
			continue
		}
		p := join(path, tag)
		out = append(out, p)
		out = append(out, loaderKeys(f.Type, p)...)
	}
	return out
}
