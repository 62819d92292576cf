"""Deduplication: exact, line-level boilerplate and MinHash-LSH fuzzy."""
