package mailer

import (
	"context"
	"html"

	"github.com/imsfeed/imsfeed/runs"
)

// SendNotice mails the tenant's subscribers (and the operators) a short notice that belongs to
// no run: the live channel's refusals and allowances. It is delivered, queued and written to
// the outbox exactly as a status mail is; its X-Imsfeed-Run is 0.
func (m *Mailer) SendNotice(ctx context.Context, t Tenant, kind, subject, text string) (Result, error) {
	r := &Rendered{
		Subject: "[imsfeed] " + t.ID + ": " + subject,
		Text:    text,
		HTML:    "<!DOCTYPE html><html><body><pre>" + html.EscapeString(text) + "</pre></body></html>",
		Headers: map[string]string{"X-Imsfeed-Tenant": t.ID, "X-Imsfeed-Run": "0", "X-Imsfeed-Status": kind},
	}
	return m.send(ctx, Message{Run: &runs.Run{Tenant: t.ID}, Tenant: t}, r)
}
