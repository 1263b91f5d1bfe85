package postgres_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/imsfeed/imsfeed/change"
	"github.com/imsfeed/imsfeed/record"
	"github.com/imsfeed/imsfeed/runs"
	"github.com/imsfeed/imsfeed/store"
)

// benchSize is the initial load of a large school owner: 150k persons, 20k groups and 1.5M
// memberships with IMSFEED_BENCH_LARGE=1, a tenth of that otherwise.
func benchSize() (persons, groups, memberships int) {
	if os.Getenv("IMSFEED_BENCH_LARGE") == "1" {
		return 150_000, 20_000, 1_500_000
	}
	return 15_000, 2_000, 150_000
}

// initialLoad builds the plan of a first import: each person a member of memberships/persons
// different groups.
func initialLoad(tenant string) *change.Plan {
	np, ng, nm := benchSize()
	p := &change.Plan{Tenant: tenant, Mode: "snapshot"}
	for i := range ng {
		g := record.Group{Key: fmt.Sprintf("G%06d", i), Source: "SIS", Name: fmt.Sprintf("Class %d", i),
			Types: []record.GroupType{{Scheme: "Unit", Value: "Course", Level: "1"}}}
		if i > 0 {
			g.Parents = []string{fmt.Sprintf("G%06d", i/100)}
		}
		g.ComputeHash()
		p.Groups = append(p.Groups, change.Group{Op: change.Insert, Group: g, Course: i%2 == 0})
	}
	for i := range np {
		r := record.Person{Key: fmt.Sprintf("P%07d", i), Source: "SIS", Name: fmt.Sprintf("Person Number %d", i),
			Attrs: record.Attrs{{Name: "email", Value: fmt.Sprintf("p%d@example.org", i)}, {Name: "name.family", Value: "Number"}, {Name: "name.given", Value: "Person"}}}
		r.ComputeHash()
		p.Persons = append(p.Persons, change.Person{Op: change.Insert, Person: r})
	}
	for i := range nm {
		m := record.Membership{MembershipKey: record.MembershipKey{Group: fmt.Sprintf("G%06d", ((i%np)*13+i/np)%ng),
			Member: fmt.Sprintf("P%07d", i%np), Role: "01"}, MemberType: record.MemberPerson}
		if i%np < np/10 {
			m.Role = "02"
		}
		m.ComputeHash()
		p.Memberships = append(p.Memberships, change.Membership{Op: change.Insert, Membership: m})
	}
	return p
}

func benchApply(b *testing.B, s store.Store, p *change.Plan) {
	b.Helper()
	run := &runs.Run{Tenant: p.Tenant, Status: runs.Running, StartedAt: time.Now()}
	if err := s.CreateRun(context.Background(), run); err != nil {
		b.Fatal(err)
	}
	if err := s.Apply(context.Background(), store.ApplyParams{Plan: p, Run: run, Now: time.Now()}); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkInitialLoad applies a whole first import in one transaction (COPY + set-based SQL).
func BenchmarkInitialLoad(b *testing.B) {
	p := initialLoad("bench")
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		s := open(b)
		b.StartTimer()
		benchApply(b, s, p)
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(len(p.Memberships)), "memberships")
}

// BenchmarkLoadState reads the state of the initial load back, as every run starts by doing.
func BenchmarkLoadState(b *testing.B) {
	s := open(b)
	defer s.Close()
	p := initialLoad("bench")
	benchApply(b, s, p)
	b.ResetTimer()
	for range b.N {
		st, err := s.LoadState(context.Background(), "bench")
		if err != nil {
			b.Fatal(err)
		}
		if st.Memberships.Len() != len(p.Memberships) {
			b.Fatalf("loaded %d memberships, want %d", st.Memberships.Len(), len(p.Memberships))
		}
	}
}

// BenchmarkOnePercent applies a re-import where 1% of persons and memberships changed.
func BenchmarkOnePercent(b *testing.B) {
	s := open(b)
	defer s.Close()
	p := initialLoad("bench")
	benchApply(b, s, p)
	version := int64(1)
	b.ResetTimer()
	for n := range b.N {
		b.StopTimer()
		u := &change.Plan{Tenant: "bench", BaseVersion: version}
		for i := 0; i < len(p.Persons); i += 100 {
			r := p.Persons[i].Person
			r.Name = fmt.Sprintf("Renamed %d %d", i, n)
			r.ComputeHash()
			u.Persons = append(u.Persons, change.Person{Op: change.Update, Person: r})
		}
		for i := 0; i < len(p.Memberships); i += 100 {
			m := p.Memberships[i].Membership
			m.Attrs = record.Attrs{{Name: "timeframe.end", Value: fmt.Sprint(n)}}
			m.ComputeHash()
			u.Memberships = append(u.Memberships, change.Membership{Op: change.Update, Membership: m})
		}
		b.StartTimer()
		benchApply(b, s, u)
		version++
	}
}
