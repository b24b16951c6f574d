"""The weekly newsletter: which articles an issue holds, rendering it, the MIME message,
SMTP, the ledger that sends it once per subscriber, and the subscribers themselves."""
