package mailer

import (
	"fmt"
	"log/slog"
	"strconv"
)

// Secret is a password or other credential. Every way of printing it (fmt verbs, slog, JSON,
// YAML, text marshalling) shows "[redacted]"; only Reveal returns the value, so a secret can
// reach the SMTP server but never a log line, an error or a mail.
type Secret string

const redacted = "[redacted]"

// Reveal returns the secret's value. Call it only where the value is handed to the server.
func (s Secret) Reveal() string { return string(s) }

func (s Secret) String() string   { return redacted }
func (s Secret) GoString() string { return redacted }

// Format redacts under every verb, including %x and %q, which would otherwise bypass String.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		_, _ = f.Write([]byte(strconv.Quote(redacted)))
		return
	}
	_, _ = f.Write([]byte(redacted))
}

// LogValue keeps the value out of structured logs.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText keeps the value out of JSON and YAML dumps of a configuration.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }
