"""The core both halves of lmforge import, and that imports neither.

Storage (fsspec paths, atomic writes), the dataset and run directory layout, the dataset
writer, the configuration loader, stable hashes, timestamps and fault points.
``schemas`` stays the on-disk contract; this package holds what works on it.
"""
