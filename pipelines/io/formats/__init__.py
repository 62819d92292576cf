"""One module per input format, each exporting ``FORMAT`` (name, suffixes, reader).

A new format is one module here and one line in ``pipelines.io.registry.FORMATS``.
"""
