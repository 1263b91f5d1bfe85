package importer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/imsfeed/imsfeed/change"
)

// decodePlan decodes a stored plan one change at a time, refusing fields a plan does not have.
// encoding/json's Decoder reads a whole value into its buffer before decoding it: for a held
// plan of 500,000 changes that is a second copy of the 74 MB document (and its growth) beside
// the plan being built, at approval's peak. Here the buffer holds one change.
func decodePlan(r io.Reader) (*change.Plan, error) {
	var plan change.Plan
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := delim(dec, '{'); err != nil {
		return nil, err
	}
	fields := jsonFields(reflect.ValueOf(&plan).Elem())
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name, _ := tok.(string)
		f, ok := fields[name]
		if !ok {
			return nil, fmt.Errorf("json: unknown field %q", name)
		}
		if f.Kind() != reflect.Slice || f.Type().Elem().Kind() != reflect.Struct {
			if err := dec.Decode(f.Addr().Interface()); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			continue
		}
		// A list of changes, one at a time.
		tok, err = dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if tok == nil {
			f.SetZero()
			continue
		}
		if d, ok := tok.(json.Delim); !ok || d != '[' {
			return nil, fmt.Errorf("%s: not a list", name)
		}
		f.Set(reflect.MakeSlice(f.Type(), 0, 0))
		for i := 0; dec.More(); i++ {
			f.Set(reflect.Append(f, reflect.Zero(f.Type().Elem())))
			if err := dec.Decode(f.Index(i).Addr().Interface()); err != nil {
				return nil, fmt.Errorf("%s[%d]: %w", name, i, err)
			}
		}
		if err := delim(dec, ']'); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	if err := delim(dec, '}'); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("data after the plan")
	}
	return &plan, nil
}

func delim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("json: %v where %v was expected", tok, want)
	}
	return nil
}

// jsonFields maps a struct's JSON names to its fields (those encoding/json writes).
func jsonFields(v reflect.Value) map[string]reflect.Value {
	out := map[string]reflect.Value{}
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		out[name] = v.Field(i)
	}
	return out
}
