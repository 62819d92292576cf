"""Build the bundled labelled set "which man-page section is this page from" (English and Chinese).

    python -m scripts.make_task_sample                                  # the bundled set
    python -m scripts.make_task_sample --out bench/data/tasks/man-sections --per-label 400 --max-chars 1200

Why man pages: they are real text nobody here wrote, installed on every Debian machine in
both languages (``manpages*`` and ``manpages-zh``), with a natural label: the manual
section a page belongs to. The text of an example is the page's NAME and DESCRIPTION
prose as ``man`` shows it (rendered by ``bench.realtext.build_corpus.render_man``), never
the header line, which names the section.

Writes ``<out>/en.jsonl`` and ``<out>/zh.jsonl`` (``{"id", "text", "label", "lang"}``)
and ``<out>/provenance.json`` (package, version and licence of every page's source).
Deterministic: sorted file lists and seeded samples, so the same installed packages give
the same bytes.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
from collections import Counter, defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from fnmatch import fnmatch
from pathlib import Path

from bench.realtext.build_corpus import cjk_share, man_pages, not_mojibake, render_man, sample

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "data" / "sample" / "tasks" / "man-sections"
MAN = Path("/usr/share/man")
DPKG_INFO = Path("/var/lib/dpkg/info")
DOC = Path("/usr/share/doc")

# Manual section -> label. Sections 4, 6 and 7 are left out: too few pages in Chinese, or
# (zh 7) a different kind of page (PostgreSQL SQL commands) than in English (overviews).
SECTION_LABELS = {
    "1": "command",
    "2": "programming",
    "3": "programming",
    "5": "file_format",
    "8": "administration",
}
LABELS = sorted(set(SECTION_LABELS.values()))
# Headings of the two sections an example is made of, as the Chinese pages write them too
# ("描述 DESCRIPTION", "DESCRIPTION 描述", "描述 (DESCRIPTION)", "名称", ...).
NAME_HEADING = re.compile(r"^(NAME|名称|名字|名稱)\b|\bNAME$|\(NAME\)")
DESCRIPTION_HEADING = re.compile(r"^(DESCRIPTION|描述|说明|說明)|\bDESCRIPTION\b")
MIN_CHARS = 80
MIN_CJK_SHARE = 0.3  # Chinese pages whose description was left in English are not Chinese examples


def man_sections(rendered: str) -> dict[str, str]:
    """Rendered page -> {heading: body}: headings start in column 0, bodies are indented.
    The first line (``LS(1) User Commands LS(1)``) and the footer are not sections."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    lines = rendered.rstrip("\n").splitlines()
    page = lines[0].split()[0] if lines and lines[0].split() else None
    if len(lines) > 1 and page and lines[-1].rstrip().endswith(page):
        lines = lines[:-1]  # the footer: "GNU coreutils 9.1   September 2022   LS(1)"
    for line in lines[1:]:
        if line and not line[0].isspace():
            current = sections.setdefault(line.strip(), [])
        elif current is not None:
            current.append(line)
    return {k: "\n".join(v) for k, v in sections.items()}


def reflow(body: str) -> str:
    """Indented, hard-wrapped man text -> paragraphs of single-spaced lines joined by one space."""
    paragraphs = re.split(r"\n\s*\n", body.strip("\n"))
    return "\n".join(" ".join(p.split()) for p in paragraphs if p.strip())


def shorten(text: str, max_chars: int) -> str:
    """At most ``max_chars`` characters, cut after the last sentence end or space before it."""
    if len(text) <= max_chars:
        return text
    head = text[:max_chars]
    at = max(head.rfind(c) for c in ".。；;!?！？\n")
    if at < max_chars // 2:
        at = head.rfind(" ")
    return head[: at + 1 if at >= max_chars // 2 else max_chars].rstrip()


def first_section(sections: dict[str, str], heading: re.Pattern[str]) -> str | None:
    """The body of the first non-empty section whose heading matches."""
    for h, body in sections.items():
        if heading.search(h) and body.strip():
            return body
    return None


def page_text(rendered: str, max_chars: int) -> str | None:
    """NAME + DESCRIPTION of a rendered page, reflowed and shortened; None without both."""
    sections = man_sections(rendered)
    name = first_section(sections, NAME_HEADING)
    description = first_section(sections, DESCRIPTION_HEADING)
    if name is None or description is None:
        return None
    return shorten(reflow(name) + "\n" + reflow(description), max_chars)


def section_of(path: Path) -> str:
    """``/usr/share/man/man3/printf.3.gz`` -> ``3`` (``man3tcl`` style suffixes dropped)."""
    return path.parent.name.removeprefix("man")[:1]


def acceptable(text: str | None, lang: str) -> bool:
    if text is None or len(text) < MIN_CHARS or not not_mojibake(text):
        return False
    share = cjk_share(text)
    return share >= MIN_CJK_SHARE if lang == "zh" else share < 0.01


def page_dirs(lang: str) -> list[Path]:
    base = MAN / "zh_CN" if lang == "zh" else MAN
    return [base / f"man{s}" for s in sorted(SECTION_LABELS)]


def candidates(lang: str) -> dict[str, list[Path]]:
    """Label -> real pages (no ``.so`` stubs, each file once). English caps every page family
    at 3 (16,000 generated ``gcloud`` pages would fill the command label); zh_CN is taken
    whole (zh_TW pages are translations of the same pages: near-duplicates across splits)."""
    by_label: dict[str, list[Path]] = defaultdict(list)
    for d in page_dirs(lang):
        for p in man_pages([d], per_family=3 if lang == "en" else None):
            by_label[SECTION_LABELS[section_of(p)]].append(p)
    return by_label


def examples(lang: str, per_label: int, max_chars: int) -> list[dict]:
    """Up to ``per_label`` examples of each label: a seeded sample of pages, rendered in parallel."""
    out = []
    for label, pages in sorted(candidates(lang).items()):
        picked = sample(pages, min(len(pages), per_label * 2 + 10), f"task:{lang}:{label}")
        with ThreadPoolExecutor(max_workers=4) as pool:
            texts = list(pool.map(lambda p: page_text(render_man(p), max_chars), picked))
        kept = [(p, t) for p, t in zip(picked, texts, strict=True) if acceptable(t, lang)][:per_label]
        for p, text in kept:
            rel = p.relative_to(MAN).as_posix().removesuffix(".gz")
            out.append({"id": f"{lang}/{rel}", "text": text, "label": label, "lang": lang, "_path": p})
    return out


# -- provenance ------------------------------------------------------------------------------------
def owners(paths: Iterable[Path]) -> dict[Path, str]:
    """Which installed package ships each path (dpkg's file lists, one pass over them). A
    page that is a symlink nobody owns (``update-alternatives``, postgresql's and the JDK's
    man links) belongs to the package that ships its target."""
    paths = list(paths)
    targets = {p: p.resolve() for p in paths}
    wanted = {str(p) for p in paths} | {str(t) for t in targets.values()}
    shipped: dict[str, str] = {}
    for lst in sorted(DPKG_INFO.glob("*.list")):
        pkg = lst.name.removesuffix(".list").split(":")[0]
        for line in lst.read_text(errors="replace").splitlines():
            if line in wanted:
                shipped.setdefault(line, pkg)
    found = {}
    for p in paths:
        pkg = shipped.get(str(p)) or shipped.get(str(targets[p]))
        if pkg:
            found[p] = pkg
    return found


def copyright_paragraphs(text: str) -> list[tuple[list[str], str]]:
    """(file patterns, licence) of each ``Files:`` paragraph of a machine-readable
    (DEP-5) copyright file, in file order."""
    out = []
    for para in re.split(r"\n\s*\n", text):
        files = re.search(r"(?ms)^Files:(.*?)(?=^\S)", para + "\nEnd:")
        licence = re.search(r"(?m)^License:\s*(.+)$", para)
        if files and licence:
            out.append((files.group(1).split(), licence.group(1).strip()))
    return out


def pattern_matches(pattern: str, page: str) -> bool:
    """Does a ``Files:`` pattern name ``page`` (``man1/kill.1``)? Packages write the page's
    path from their source tree (``src/man1/kill.1``, ``man3/queue.3``) or ``*``."""
    return pattern == "*" or pattern == page or pattern.endswith("/" + page) or fnmatch(page, pattern)


def page_licence(paragraphs: list[tuple[list[str], str]], page: str) -> str | None:
    """The licence of the last paragraph whose patterns match (DEP-5: the last match wins)."""
    found = None
    for patterns, licence in paragraphs:
        if any(pattern_matches(p, page) for p in patterns):
            found = licence
    return found


def read_copyright(pkg: str) -> list[tuple[list[str], str]]:
    path = DOC / pkg / "copyright"
    return copyright_paragraphs(path.read_text(errors="replace")) if path.exists() else []


def package_version(pkg: str) -> str | None:
    proc = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True, check=False
    )
    return proc.stdout.strip() or None


NOT_MACHINE_READABLE = "see the package's copyright file (not machine-readable)"


def provenance(records: list[dict]) -> dict:
    """Every page's package and licence (from ``/usr/share/doc/<package>/copyright``), and
    the count of pages per package, licence and label."""
    pkgs = owners(r["_path"] for r in records)
    copyrights = {pkg: read_copyright(pkg) for pkg in sorted(set(pkgs.values()))}
    pages = {}
    for r in records:
        pkg = pkgs.get(r["_path"], "(unowned)")
        page = f"{r['_path'].parent.name}/{r['_path'].name.removesuffix('.gz')}"
        pages[r["id"]] = {
            "package": pkg,
            "licence": page_licence(copyrights.get(pkg, []), page) or NOT_MACHINE_READABLE,
        }
    per_pkg = Counter(v["package"] for v in pages.values())
    return {
        "task": "man-page section classification",
        "labels": {label: [s for s, lab in SECTION_LABELS.items() if lab == label] for label in LABELS},
        "counts": {
            lang: dict(sorted(Counter(r["label"] for r in records if r["lang"] == lang).items()))
            for lang in ("en", "zh")
        },
        "licences": dict(Counter(v["licence"] for v in pages.values()).most_common()),
        "packages": {
            p: {"pages": n, "version": package_version(p), "copyright_file": str(DOC / p / "copyright")}
            for p, n in sorted(per_pkg.items(), key=lambda kv: (-kv[1], kv[0]))
        },
        "pages": pages,
    }


def write_jsonl(path: Path, records: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps({k: r[k] for k in ("id", "text", "label", "lang")}, ensure_ascii=False) + "\n")


def build(out: Path, per_label: int, max_chars: int) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    records = []
    for lang in ("en", "zh"):
        recs = examples(lang, per_label, max_chars)
        write_jsonl(out / f"{lang}.jsonl", recs)
        records += recs
    prov = provenance(records)
    prov["settings"] = {"per_label": per_label, "max_chars": max_chars}
    (out / "provenance.json").write_text(json.dumps(prov, indent=2, ensure_ascii=False) + "\n")
    return prov


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--per-label", type=int, default=75, help="examples per label and language at most")
    ap.add_argument("--max-chars", type=int, default=500, help="characters per example at most")
    args = ap.parse_args(argv)
    prov = build(args.out, args.per_label, args.max_chars)
    print(json.dumps(prov["counts"], ensure_ascii=False), "->", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
