"""The practice's directory: clinicians, patients, consent and groups.

Every function takes the caller's session (one transaction) and writes its audit event in it, so a
change and its audit record commit together. Values shown to users are decrypted into plain
dataclasses (`views`); the table rows never leave this package with plaintext in them.
"""
