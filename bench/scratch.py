"""A scratch PostgreSQL schema for a benchmark run (created empty, dropped afterwards), so the
figures for the production store come from the same script as the embedded ones."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg


@contextmanager
def postgres_schema(url: str) -> Iterator[str]:
    """`url` (postgresql+psycopg://…) narrowed to a new, empty schema for the duration."""
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in url else "?"
    try:
        yield f"{url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
