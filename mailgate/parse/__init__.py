"""Reading patient replies: body extraction, quote and signature stripping."""
