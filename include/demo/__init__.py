"""For the demo and the tests only: a local SMTP outbox and the demo's defaults."""
