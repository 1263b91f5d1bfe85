package importer

import (
	"context"
	"fmt"
	"time"

	"github.com/imsfeed/imsfeed/config"
	"github.com/imsfeed/imsfeed/mailer"
	"github.com/imsfeed/imsfeed/store"
)

// The live channel in the mails: each status mail of a tenant with a live channel reports its
// activity since the previous mail, and a live-only tenant gets a daily digest of it instead
// of a nightly run.

// liveActivity is the tenant's live activity not yet reported; nil when the tenant has no live
// channel (or the store cannot say: the mail goes out without the section).
func (im *Importer) liveActivity(ctx context.Context, t *config.Tenant) *store.LiveActivity {
	if t.ES == nil {
		return nil
	}
	l, ok := im.store.(store.Live)
	if !ok {
		return nil
	}
	a, err := l.LiveActivity(ctx, t.ID)
	if err != nil {
		im.log.Warn("live activity for the status mail", "tenant", t.ID, "err", err)
		return nil
	}
	return a
}

// liveReported moves the tenant's live report past a, once a mail holding it is sent or queued;
// at is the report's time (the next mail's "since").
func (im *Importer) liveReported(ctx context.Context, t *config.Tenant, a *store.LiveActivity, at time.Time) error {
	if a == nil {
		return nil
	}
	l, ok := im.store.(store.Live)
	if !ok {
		return nil
	}
	return l.LiveReported(context.WithoutCancel(ctx), t.ID, a, at)
}

// DigestMailer sends a live-only tenant's digest. mailer.Mailer satisfies it.
type DigestMailer interface {
	SendDigest(ctx context.Context, t mailer.Tenant, a *store.LiveActivity, until time.Time) (mailer.Result, error)
}

// Digest mails a live-only tenant's daily digest: its live activity since the previous one.
// With a slot (serve), a digest already made at or after the slot is not made again, so a
// retried or rescued job mails once. It reports whether a digest went out.
func (im *Importer) Digest(ctx context.Context, t *config.Tenant, slot time.Time) (bool, error) {
	if !t.LiveOnly() {
		return false, fmt.Errorf("digest %s: the tenant is not fed only live (it has a source, or no es credentials)", t.ID)
	}
	if paused, why := t.PausedAt(im.now()); paused {
		im.log.Info("live digest skipped: tenant paused", "tenant", t.ID, "reason", why)
		return false, nil
	}
	a := im.liveActivity(ctx, t)
	if a == nil {
		return false, fmt.Errorf("digest %s: the store has no live request log to report", t.ID)
	}
	if !slot.IsZero() && !a.Since.IsZero() && !a.Since.Before(slot) {
		return false, nil // this slot's digest went out already
	}
	dm, ok := im.mail.(DigestMailer)
	if !ok {
		return false, nil
	}
	now := im.now()
	res, err := dm.SendDigest(ctx, mailTenant(t), a, now)
	if err != nil {
		return false, fmt.Errorf("digest %s: %w", t.ID, err)
	}
	// A slot's digest is reported at the slot: the next one covers from there, and an attempt
	// of the same slot after this one finds it made.
	at := now
	if !slot.IsZero() {
		at = slot
	}
	if err := im.liveReported(ctx, t, a, at); err != nil {
		return true, fmt.Errorf("digest %s: mailed, but not recorded as reported: %w", t.ID, err)
	}
	im.log.Info("live digest mailed", "tenant", t.ID, "requests", a.Total(), "mail", res.Status)
	return true, nil
}

func mailTenant(t *config.Tenant) mailer.Tenant {
	return mailer.Tenant{ID: t.ID, Name: t.Name, Subscribers: t.Subscribers, Location: t.Location()}
}
