"""Sender authentication beyond the From binding: DKIM signatures, DMARC policy, and
Authentication-Results headers from MTAs we trust. DNS lookups happen here, before the ingest
transaction opens, so a slow resolver never holds the database's write lock."""
