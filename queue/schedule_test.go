package queue

import (
	"testing"
	"time"

	"github.com/imsfeed/imsfeed/config"
)

func utc(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		panic(err)
	}
	return t
}

// A school owner in Oslo who sets schedule "0 2 * * *" means 02:00 in Oslo, winter and summer,
// whatever the zone of the machine serve runs on. Across the changes of the clocks a slot runs
// once: a skipped 02:30 when the clocks have gone forward (03:00), a repeated 02:30 the first time.
func TestScheduleFollowsTheTenantsTimezone(t *testing.T) {
	t.Setenv("TZ", "UTC")
	oslo := &config.Tenant{ID: "north", Schedule: "0 2 * * *", Timezone: "Europe/Oslo"}
	halfPast := &config.Tenant{ID: "north", Schedule: "30 2 * * *", Timezone: "Europe/Oslo"}
	hourly := &config.Tenant{ID: "north", Schedule: "0 * * * *", Timezone: "Europe/Oslo"}
	local := &config.Tenant{ID: "north", Schedule: "0 2 * * *"} // no timezone: the machine's
	for _, c := range []struct {
		name  string
		t     *config.Tenant
		after string
		slots []string // the next slots, in UTC
	}{
		{"winter: 02:00 CET", oslo, "2026-12-02 20:00", []string{"2026-12-03 01:00", "2026-12-04 01:00"}},
		{"summer: 02:00 CEST", oslo, "2026-06-30 12:00", []string{"2026-07-01 00:00"}},
		{"no timezone: the machine's", local, "2026-12-02 20:00", []string{"2026-12-03 02:00"}},
		// 2027-03-28: 02:00 CET becomes 03:00 CEST (01:00 UTC); 02:30 does not exist.
		{"skipped: when the clocks have gone forward", halfPast, "2027-03-27 12:00", []string{"2027-03-28 01:00", "2027-03-29 00:30"}},
		// 2026-10-25: 03:00 CEST becomes 02:00 CET (01:00 UTC); 02:30 comes twice.
		{"repeated: the first time", halfPast, "2026-10-24 12:00", []string{"2026-10-25 00:30", "2026-10-26 01:30"}},
		{"repeated, asked in the second hour", halfPast, "2026-10-25 01:10", []string{"2026-10-26 01:30"}},
		{"hourly across the repeated hour", hourly, "2026-10-24 23:30", []string{"2026-10-25 00:00", "2026-10-25 02:00"}},
		{"hourly across the skipped hour", hourly, "2027-03-27 23:30", []string{"2027-03-28 00:00", "2027-03-28 01:00", "2027-03-28 02:00"}},
	} {
		after := utc(c.after)
		for i, want := range c.slots {
			got, err := SlotAfter(c.t, after)
			if err != nil || !got.Equal(utc(want)) {
				t.Errorf("%s: slot %d after %s = %s (%v), want %s UTC", c.name, i+1, after.UTC().Format(time.DateTime), got.UTC().Format(time.DateTime), err, want)
				break
			}
			after = got
		}
	}
}

// River asks for the slot's job at the slot's instant (or up to 100 ms early): the job names the
// slot in the tenant's zone, one job per (tenant, slot) whichever process is leader.
func TestSlotJobNamesTheTenantsSlot(t *testing.T) {
	t.Setenv("TZ", "UTC")
	tenant := &config.Tenant{ID: "north", Schedule: "0 2 * * *", Timezone: "Europe/Oslo"}
	for _, c := range []struct {
		now  time.Time
		want string // "" for no job
	}{
		{utc("2026-12-03 01:00").Add(-100 * time.Millisecond), "2026-12-03 01:00"},
		{utc("2026-12-03 01:04"), "2026-12-03 01:00"}, // a new leader, just late
		{utc("2026-12-03 01:06"), ""},                 // too late: the next slot comes
		{utc("2026-12-03 02:00"), ""},                 // 02:00 UTC is 03:00 in Oslo
	} {
		q := &Queue{now: func() time.Time { return c.now }}
		args, _ := q.slotJob(tenant)()
		got := ""
		if a, ok := args.(SlotArgs); ok {
			got = a.Slot.UTC().Format("2006-01-02 15:04")
		}
		if got != c.want {
			t.Errorf("slot job at %s UTC names slot %q, want %q", c.now.Format(time.DateTime), got, c.want)
		}
	}
}
