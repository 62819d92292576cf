"""Build the bundled paired set "English user-interface message -> Simplified Chinese".

    python -m scripts.make_pairs_sample                         # the bundled set
    python -m scripts.make_pairs_sample --per-package 400 --out bench/data/tasks/ui-messages

Why gettext catalogs: they are real translations nobody here wrote, made by the translators
of each program and installed on every Debian machine (``/usr/share/locale/zh_CN/
LC_MESSAGES/*.mo``), and short messages ("Save the file", "cannot open %s") are a paired
task a small encoder-decoder can learn. A catalog maps each English message (``msgid``) to
its Chinese translation (``msgstr``).

What is kept from a catalog (``clean_pair``):

* singular messages only: plural entries (``ngettext``) and the header are skipped; a
  message's context (``msgctxt``, "Stock label") is stripped, so one English message may
  come with two translations (the pipeline keeps both, in the same split);
* keyboard accelerators are removed on both sides, only when the translation marks one
  (``_Open`` / ``打开(_O)`` -> ``Open`` / ``打开``; ``user_name`` stays), and so are
  trailing colons (``Name:`` / ``名称：``) and surrounding whitespace; runs of spaces (the
  alignment of help lines) become one;
* single-line messages of 3-60 characters with a letter besides their format specifiers
  (``%s: %s`` alone is dropped), whose translation differs from them and contains Chinese;
* packages whose translations are under a GPL or LGPL licence (the licence is read from
  ``/usr/share/doc/<package>/copyright``); the ISO code lists and keyboard layout names
  are left out: they are names, not messages, and would outnumber everything else.

At most ``--per-package`` pairs per package (a seeded stable-hash sample, so ``git``,
``gtk`` and binutils' six catalogs do not fill the set), exact duplicate pairs once. Writes
``<out>/pairs.jsonl`` (``{"id", "source", "target", "package"}``) and
``<out>/provenance.json`` (per package: the catalogs, version, licence and copyright file,
pairs kept). Deterministic: sorted catalogs and seeded samples, so the same installed
packages give the same bytes.
"""

from __future__ import annotations

import argparse
import gettext
import json
import re
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from lmcore.hashing import stable_hash64, stable_hash_hex
from scripts.make_task_sample import DOC, package_version, page_licence, read_copyright

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "data" / "sample" / "tasks" / "ui-messages"
LOCALE_DIR = Path("/usr/share/locale/zh_CN/LC_MESSAGES")
TRANSLATIONS = "po/zh_CN.po"  # the path a DEP-5 copyright file's ``Files:`` patterns are matched with
# Catalogs of names rather than messages (countries, languages, currencies, keyboard layouts).
EXCLUDED_DOMAINS = re.compile(r"^(iso_|xkeyboard-config$)")
FREE_LICENCE = re.compile(r"\bL?GPL\b|\bL?GPL-")
GNU_LICENCES = (
    ("GPL", r"(?<!Lesser )(?<!Library )General Public License"),
    ("LGPL", r"(Lesser|Library) General Public License"),
)
MIN_CHARS, MAX_CHARS = 3, 60
SEED = 18

# "打开(_O)", "（_O）", "(&O)": the translation's copy of an accelerator
TARGET_ACCELERATOR = re.compile(r"\s*[(（][_&]([A-Za-z0-9])[)）]")
SOURCE_ACCELERATOR = re.compile(r"[_&](?=[A-Za-z0-9])")
TRAILING_COLONS = re.compile(r"[\s:：]+$")
SPACES = re.compile(r" {2,}")  # the alignment of help lines ("-E          (ignored)")
# printf (%s, %-10lu, %1$s, %%), Python (%(name)s, {0}), shell (${VAR}, $VAR)
FORMAT_SPEC = re.compile(
    r"%(\d+\$)?[-+ #0']*(\*|\d+)?(\.(\*|\d+))?(hh|h|ll|l|L|q|j|z|t)?[diouxXeEfFgGaAcspnm%]"
    r"|%\([A-Za-z_]+\)[sdrf]|\{[0-9A-Za-z_]*\}|\$\{?[A-Za-z_]+\}?"
)
CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")


# -- a catalog -> pairs ----------------------------------------------------------------------------
def messages(catalog: dict) -> Iterator[tuple[str, str]]:
    """(msgid without its context, msgstr) of a catalog's singular, translated messages."""
    for key, value in catalog.items():
        if not isinstance(key, str) or not key or not isinstance(value, str) or not value:
            continue  # plural entries have (msgid, n) keys; "" is the header
        yield key.rpartition("\x04")[2], value


def strip_accelerators(source: str, target: str) -> tuple[str, str]:
    """Remove an accelerator from both sides when the translation marks one."""
    if not TARGET_ACCELERATOR.search(target):
        return source, target
    return SOURCE_ACCELERATOR.sub("", source, count=1), TARGET_ACCELERATOR.sub("", target)


def clean_side(text: str) -> str:
    return SPACES.sub(" ", TRAILING_COLONS.sub("", text.strip()))


def only_format(text: str) -> bool:
    """True when nothing but format specifiers, digits and punctuation is left."""
    return not any(c.isalpha() for c in FORMAT_SPEC.sub("", text))


def clean_pair(msgid: str, msgstr: str) -> tuple[str, str] | None:
    """The (source, target) a message stands for, or None when it does not qualify."""
    if any(c in text.strip() for text in (msgid, msgstr) for c in "\n\t\r"):
        return None
    source, target = (clean_side(t) for t in strip_accelerators(msgid.strip(), msgstr.strip()))
    if not MIN_CHARS <= len(source) <= MAX_CHARS or not target or len(target) > MAX_CHARS:
        return None
    if only_format(source) or source == target or not CJK.search(target):
        return None
    return source, target


def read_catalog(path: Path) -> dict:
    with open(path, "rb") as f:
        return gettext.GNUTranslations(f)._catalog  # type: ignore[attr-defined]


def package_pairs(paths: list[Path]) -> list[tuple[str, str, str]]:
    """(catalog, source, target) of a package's qualifying pairs, each pair once (from the
    first of its catalogs in name order)."""
    first: dict[tuple[str, str], str] = {}
    for path in sorted(paths):
        for pair in sorted({p for m in messages(read_catalog(path)) if (p := clean_pair(*m)) is not None}):
            first.setdefault(pair, path.stem)
    return [(domain, source, target) for (source, target), domain in first.items()]


def sample_pairs(pairs: list[tuple[str, str, str]], n: int, pkg: str) -> list[tuple[str, str, str]]:
    """``n`` pairs of a package, ordered by a seeded stable hash (same catalogs, same sample)."""
    return sorted(pairs, key=lambda p: (stable_hash64(f"{pkg}\x00{p[1]}\x00{p[2]}", SEED), p))[:n]


# -- provenance ------------------------------------------------------------------------------------
def owners(paths: list[Path]) -> dict[Path, str]:
    """The installed package that ships each catalog (``dpkg -S``, one call)."""
    proc = subprocess.run(["dpkg", "-S", *map(str, paths)], capture_output=True, text=True, check=False)
    found = {}
    for line in proc.stdout.splitlines():
        pkgs, _, path = line.partition(": ")
        found[Path(path.strip())] = pkgs.split(",")[0].split(":")[0].strip()
    return found


def translations_licence(pkg: str) -> str:
    """The licence of a package's translations: the DEP-5 paragraph matching ``po/zh_CN.po``
    (else ``Files: *``), or for a copyright file that is not machine-readable, the GNU
    licence its text names."""
    found = page_licence(read_copyright(pkg), TRANSLATIONS)
    if found:
        return found
    path = DOC / pkg / "copyright"
    text = " ".join(path.read_text(errors="replace").split()) if path.exists() else ""
    named = [short for short, pattern in GNU_LICENCES if re.search(pattern, text)]
    return (
        f"{' and '.join(named)} (named in a copyright file that is not machine-readable)"
        if named
        else "unknown"
    )


def is_free(licence: str) -> bool:
    return bool(FREE_LICENCE.search(licence))


# -- the set -----------------------------------------------------------------------------------
def build(out: Path, per_package: int) -> dict:
    catalogs = sorted(LOCALE_DIR.glob("*.mo"))
    pkg_of = owners(catalogs)
    licences = {pkg: translations_licence(pkg) for pkg in sorted(set(pkg_of.values()))}
    by_pkg: dict[str, list[Path]] = {}
    skipped = {}
    for path in catalogs:
        pkg = pkg_of.get(path, "(unowned)")
        if EXCLUDED_DOMAINS.match(path.stem):
            skipped[path.stem] = "names, not messages"
        elif not is_free(licences.get(pkg, "unknown")):
            skipped[path.stem] = f"licence {licences.get(pkg, 'unknown')!r} ({pkg})"
        else:
            by_pkg.setdefault(pkg, []).append(path)
    records, seen = [], set()
    for pkg, paths in sorted(by_pkg.items()):
        for domain, source, target in sample_pairs(package_pairs(paths), per_package, pkg):
            if (source, target) in seen:  # the same message and translation in two packages
                continue
            seen.add((source, target))
            rid = f"{domain}/{stable_hash_hex(source + chr(0) + target)[:10]}"
            records.append({"id": rid, "source": source, "target": target, "package": pkg})
    assert len({r["id"] for r in records}) == len(records), "pair ids collide"
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "pairs.jsonl", "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    prov = provenance(records, by_pkg, licences, skipped, per_package)
    (out / "provenance.json").write_text(
        json.dumps(prov, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return prov


def provenance(
    records: list[dict], by_pkg: dict[str, list[Path]], licences: dict, skipped: dict, per_package: int
) -> dict:
    """Per package: pairs, catalogs, version, licence, copyright file; the catalogs left out and why."""
    per_pkg = Counter(r["package"] for r in records)
    return {
        "task": "English -> Simplified Chinese user-interface messages (gettext catalogs)",
        "source": str(LOCALE_DIR),
        "pairs": len(records),
        "settings": {
            "per_package": per_package,
            "min_chars": MIN_CHARS,
            "max_chars": MAX_CHARS,
            "seed": SEED,
        },
        "licences": dict(Counter(licences[r["package"]] for r in records).most_common()),
        "packages": {
            pkg: {
                "pairs": n,
                "catalogs": [p.name for p in sorted(by_pkg[pkg])],
                "version": package_version(pkg),
                "licence": licences[pkg],
                "copyright_file": str(DOC / pkg / "copyright"),
            }
            for pkg, n in sorted(per_pkg.items(), key=lambda kv: (-kv[1], kv[0]))
        },
        "skipped_catalogs": dict(sorted(skipped.items())),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--per-package", type=int, default=150, help="pairs per package at most")
    args = ap.parse_args(argv)
    prov = build(args.out, args.per_package)
    print(prov["pairs"], "pairs from", len(prov["packages"]), "packages ->", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
