package importer

import (
	"encoding/json"
	"reflect"
	"strings"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/store"
)

// planPiece is about how many bytes of a held plan's JSON go in one stored part.
var planPiece = 1 << 20

// heldPlan encodes a plan to hold as json.Marshal does, byte for byte (its SHA-256 is the run's
// PlanSHA256, the same as a plan held whole had), but a change at a time, handing the store
// pieces of about planPiece bytes: a hold of 500,000 changes never has its 74 MB document in
// memory. The store must not keep a piece past yield.
func heldPlan(plan *change.Plan) store.HeldPlan { return heldPlanOf(plan, nil, nil) }

// membershipSource gives a plan's membership changes in its order, each time it is called, to
// yield (whose first error it returns): the changes of a plan that does not list them (a
// rollover's, read from the stored memberships). A change given is yield's only while it runs.
type membershipSource func(yield func(*change.Membership) error) error

// personsApart are the person changes a plan does not list, after those it lists: an import's
// persons going to the trash can, kept apart (diff.Removed).
type personsApart interface {
	// EachPerson gives them in the plan's order, as membershipSource.
	EachPerson(yield func(*change.Person) error) error
	// Trashed gives the name of one of them by key (ok: it is one of them).
	Trashed(key string) (name string, ok bool)
}

// heldPlanOf is heldPlan of a plan whose membership changes, when memberships is not nil, are
// memberships' rather than its own list, and whose person changes, when persons is not nil,
// are its own list then those persons gives: encoded as if the plan listed them.
func heldPlanOf(plan *change.Plan, persons personsApart, memberships membershipSource) store.HeldPlan {
	return func(yield func([]byte) error) error {
		w := &planPieces{yield: yield, buf: make([]byte, 0, planPiece+64<<10)}
		if err := encodePlan(w, plan, persons, memberships); err != nil {
			return err
		}
		if len(w.buf) == 0 {
			return nil
		}
		return yield(w.buf)
	}
}

type planPieces struct {
	yield func([]byte) error
	buf   []byte
}

func (w *planPieces) write(b ...byte) error {
	w.buf = append(w.buf, b...)
	if len(w.buf) < planPiece {
		return nil
	}
	err := w.yield(w.buf)
	w.buf = w.buf[:0]
	return err
}

// jsonList writes a JSON array to w an element at a time.
type jsonList struct {
	w    *planPieces
	open byte // '[' before the first element, ',' after it
}

func (l *jsonList) add(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	b = append([]byte{l.open}, b...)
	l.open = ','
	return l.w.write(b...)
}

func (l *jsonList) close() error { return closeList(l.w.write, l.open) }

// encodePlan writes json.Marshal(plan) to w, each change of a list marshalled on its own; with
// memberships, the plan's membership changes are those it gives; with persons, its person
// changes are those it lists, then those persons gives (a list even when the plan's is nil).
func encodePlan(w *planPieces, plan *change.Plan, persons personsApart, memberships membershipSource) error {
	v := reflect.ValueOf(plan).Elem()
	t := v.Type()
	sep := byte('{')
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		f := v.Field(i)
		if strings.Contains(","+opts+",", ",omitempty,") && emptyJSON(f) {
			continue
		}
		key, err := json.Marshal(name)
		if err != nil {
			return err
		}
		if err := w.write(append(append([]byte{sep}, key...), ':')...); err != nil {
			return err
		}
		sep = ','
		if sf.Name == "Memberships" && memberships != nil {
			l := jsonList{w: w, open: '['}
			if err := memberships(func(c *change.Membership) error { return l.add(c) }); err != nil {
				return err
			}
			if err := l.close(); err != nil {
				return err
			}
			continue
		}
		if sf.Name == "Persons" && persons != nil {
			l := jsonList{w: w, open: '['}
			for j := range plan.Persons {
				if err := l.add(&plan.Persons[j]); err != nil {
					return err
				}
			}
			if err := persons.EachPerson(func(c *change.Person) error { return l.add(c) }); err != nil {
				return err
			}
			if err := l.close(); err != nil {
				return err
			}
			continue
		}
		if f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.Struct && !f.IsNil() {
			l := jsonList{w: w, open: '['}
			for j := range f.Len() {
				if err := l.add(f.Index(j).Addr().Interface()); err != nil {
					return err
				}
			}
			if err := l.close(); err != nil {
				return err
			}
			continue
		}
		b, err := json.Marshal(f.Addr().Interface())
		if err != nil {
			return err
		}
		if err := w.write(b...); err != nil {
			return err
		}
	}
	if sep == '{' {
		return w.write('{', '}')
	}
	return w.write('}')
}

// emptyJSON is encoding/json's omitempty test.
func emptyJSON(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool:
		return !v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int() == 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return v.Uint() == 0
	case reflect.Float32, reflect.Float64:
		return v.Float() == 0
	case reflect.Interface, reflect.Pointer:
		return v.IsNil()
	}
	return false
}

// closeList ends a JSON list whose elements were written each after open ('[' for the first,
// then ','): "[]" when none was.
func closeList(write func(...byte) error, open byte) error {
	if open == '[' {
		return write('[', ']')
	}
	return write(']')
}
