"""Mail: message kinds, composing, wire encoding, templates, the outbox ledger, sending, SMTP."""
