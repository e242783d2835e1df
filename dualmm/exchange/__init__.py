"""The venue boundary: one async Exchange protocol in domain types, and its adapters."""
