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

// decodePlanIn decodes a stored plan one change at a time, refusing fields a plan does not
// have. encoding/json's Decoder reads a whole value into its buffer before decoding it: for a
// held plan of 500,000 changes that is a second copy of the 74 MB document (and its growth)
// beside the plan being built, at approval's peak. Here the buffer holds one change. With each
// set, the changes are not kept in the plan returned but given to each in pieces of at most
// size changes of one list (a Plan with that list only, and the tenant, mode and base
// version): a held plan applied without being whole in memory.
func decodePlanIn(r io.Reader, size int, each func(*change.Plan) error) (*change.Plan, error) {
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
		list := f
		var piece *change.Plan
		give := func() error {
			if piece == nil || list.Len() == 0 {
				return nil
			}
			err := each(piece)
			piece = nil
			return err
		}
		if each == nil {
			f.Set(reflect.MakeSlice(f.Type(), 0, 0))
		}
		for i := 0; dec.More(); i++ {
			if each != nil && piece == nil {
				piece = &change.Plan{Tenant: plan.Tenant, Mode: plan.Mode, BaseVersion: plan.BaseVersion}
				list = jsonFields(reflect.ValueOf(piece).Elem())[name]
				list.Set(reflect.MakeSlice(f.Type(), 0, size))
			}
			list.Set(reflect.Append(list, reflect.Zero(f.Type().Elem())))
			if err := dec.Decode(list.Index(list.Len() - 1).Addr().Interface()); err != nil {
				return nil, fmt.Errorf("%s[%d]: %w", name, i, err)
			}
			if each != nil && list.Len() == size {
				if err := give(); err != nil {
					return nil, err
				}
			}
		}
		if each != nil {
			if err := give(); err != nil {
				return nil, err
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
