"""Readers and writers: every supported input format in, document Parquet out."""
