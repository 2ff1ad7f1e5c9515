"""The inbound gateway: SMTP and LMTP listeners, the durable spool, and the reply-code table."""
