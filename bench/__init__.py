"""Performance scripts: each prints its figures; none is a test."""
