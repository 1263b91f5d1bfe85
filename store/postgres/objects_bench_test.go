package postgres_test

import (
	"context"
	"testing"

	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/store"
)

// BenchmarkObjects times the console's reads on the initial load (IMSFEED_BENCH_LARGE=1: 150k
// persons, 1.5M memberships): a search that finds nothing (it reads every person of the
// tenant), one that fills a page at once, one person with its memberships (the member
// index), and a page of a group's members.
func BenchmarkObjects(b *testing.B) {
	s := open(b)
	defer s.Close()
	p := initialLoad("bench")
	benchApply(b, s, p)
	ctx := context.Background()
	for _, c := range []struct {
		name string
		f    func() (int, error)
	}{
		{"search-nothing", func() (int, error) {
			os, err := s.SearchObjects(ctx, store.SearchParams{Tenant: "bench", Type: record.Persons, Query: "Anna Ødegård", Limit: 51})
			return len(os), err
		}},
		{"search-page", func() (int, error) {
			os, err := s.SearchObjects(ctx, store.SearchParams{Tenant: "bench", Type: record.Persons, Query: "NUMBER 1", Limit: 51})
			return len(os), err
		}},
		{"person", func() (int, error) {
			d, err := s.StoredPerson(ctx, "bench", "P0001234")
			if err != nil {
				return 0, err
			}
			return len(d.Memberships), nil
		}},
		{"members", func() (int, error) {
			ms, err := s.GroupMembers(ctx, store.MembersParams{Tenant: "bench", Group: "G000007", Limit: 51})
			return len(ms), err
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			n := 0
			for range b.N {
				var err error
				if n, err = c.f(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n), "rows")
		})
	}
}
