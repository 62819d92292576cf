"""The manifest: its version, fingerprint and tokenizer head the page (``report.json`` key ``manifest``)."""

from __future__ import annotations

from pipelines.report.context import ReportContext
from schemas import ManifestError, load_manifest

HEAD_KEYS = ("version", "created_at", "code_version", "fingerprint", "parent_fingerprint")


def compute(ctx: ReportContext) -> None:
    manifest = None
    if ctx.files.manifest:
        try:
            manifest = load_manifest(ctx.files.manifest).to_dict()
        except ManifestError as exc:
            ctx.check("manifest.json is valid", False, str(exc))
    ctx.manifest = manifest
    ctx.values["manifest"] = (
        {k: manifest[k] for k in HEAD_KEYS} | {"tokenizer": manifest["tokenizer"]} if manifest else None
    )
