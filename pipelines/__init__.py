"""lmforge's Apache Beam pipelines: read -> clean -> dedup -> tokenize -> shard (see README.md)."""

from pipelines.stage.options import quiet_beam_import

# Before any submodule imports Beam: its GCP IO modules log "apitools not found ..." on import.
quiet_beam_import()
