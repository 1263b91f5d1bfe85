package soap

import (
	"runtime"
	"strings"
	"testing"
	"weak"
)

// TestPairsLetGoOneByOne: a dialect takes a plural request's pairs apart one by one while it
// holds the top of the tree; a pair it let go is garbage then (but for those sharing a block of
// nodes with a pair still held), so the tree and the items made of it are not both held whole.
func TestPairsLetGoOneByOne(t *testing.T) {
	var b strings.Builder
	b.WriteString(`<s:Envelope xmlns:s="` + NS + `"><s:Header><h:info xmlns:h="urn:h"><h:id>1</h:id></h:info></s:Header><s:Body><x:createRequest xmlns:x="urn:x"><x:set>`)
	for range 3000 {
		b.WriteString(`<x:pair><x:id><x:identifier>K</x:identifier></x:id><x:person><x:name><x:part><x:type>First</x:type><x:value>V</x:value></x:part></x:name></x:person></x:pair>`)
	}
	b.WriteString(`</x:set></x:createRequest></s:Body></s:Envelope>`)
	env, ferr := ReadEnvelope([]byte(b.String()), func(*Node) bool { return false })
	if ferr != nil {
		t.Fatal(ferr)
	}
	request := env.Body
	env = nil
	set := request.Child("set")
	pairs := set.Children("pair")
	set.Kids = nil
	first := weak.Make(pairs[0].Path("person", "name", "part", "value"))
	middle := weak.Make(pairs[len(pairs)/4].Path("person", "name", "part", "value"))
	for i := range len(pairs) / 2 {
		pairs[i] = nil
	}
	runtime.GC()
	if first.Value() != nil || middle.Value() != nil {
		t.Fatalf("a pair let go is still held (the first: %v, one in the middle: %v)", first.Value() != nil, middle.Value() != nil)
	}
	if pairs[len(pairs)-1].Path("id", "identifier").Str() != "K" || request.Local != "createRequest" {
		t.Fatal("the pairs held and the top are gone")
	}
	runtime.KeepAlive(pairs)
}
