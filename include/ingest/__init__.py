"""Landing folder to raw tables: scan, read, validate, pseudonymize, COPY; ledger and quarantine."""
