"""The contract between ``pipelines`` (which writes datasets) and ``lm_train`` (which reads them).

Both halves import these definitions; neither redefines them. See ``schemas/README.md``
for the formats in words, enough to write a reader in another language.
"""

from schemas.checksum import sha256_bytes, sha256_file
from schemas.counts import Counts, CountsError
from schemas.document import (
    DOCUMENT_FIELDS,
    DOCUMENT_SCHEMA,
    DOCUMENT_SCHEMA_VERSION,
    DocumentError,
    documents_to_table,
    table_to_documents,
    validate_document,
)
from schemas.manifest import (
    MANIFEST_FILENAME,
    MANIFEST_SCHEMA_VERSION,
    SPLITS,
    TASK_KINDS,
    ChecksumError,
    Manifest,
    ManifestError,
    PathEscapeError,
    ShardInfo,
    TaskInfo,
    TokenizerInfo,
    load_manifest,
    resolve_dataset_path,
)
from schemas.token_shard import (
    LABEL_COLUMN,
    TARGET_COLUMN,
    TOKEN_SHARD_SCHEMA_VERSION,
    TokenShard,
    TokenShardError,
    build_token_shard_table,
    open_token_shard,
    read_shard_table,
    token_dtype_for_vocab,
    token_shard_schema,
    token_shard_to_bytes,
    validate_token_shard_table,
)

__all__ = [
    "DOCUMENT_FIELDS",
    "DOCUMENT_SCHEMA",
    "DOCUMENT_SCHEMA_VERSION",
    "LABEL_COLUMN",
    "MANIFEST_FILENAME",
    "MANIFEST_SCHEMA_VERSION",
    "SPLITS",
    "TARGET_COLUMN",
    "TASK_KINDS",
    "TOKEN_SHARD_SCHEMA_VERSION",
    "ChecksumError",
    "Counts",
    "CountsError",
    "DocumentError",
    "Manifest",
    "ManifestError",
    "PathEscapeError",
    "ShardInfo",
    "TaskInfo",
    "TokenShard",
    "TokenShardError",
    "TokenizerInfo",
    "build_token_shard_table",
    "documents_to_table",
    "load_manifest",
    "open_token_shard",
    "read_shard_table",
    "resolve_dataset_path",
    "sha256_bytes",
    "sha256_file",
    "table_to_documents",
    "token_dtype_for_vocab",
    "token_shard_schema",
    "token_shard_to_bytes",
    "validate_document",
    "validate_token_shard_table",
]
