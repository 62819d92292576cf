"""Cleaning and annotation: HTML extraction, normalisation, language ID, quality filters, PII masking."""
