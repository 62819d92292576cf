"""Build the real-text benchmark corpus from text that Debian packages ship on this machine.

    python -m bench.realtext.build_corpus [--out bench/data/realtext] [--max-per-source N]

Why: benchmarks made from our own generated text hide what real text does to the
pipeline (hard-wrapped prose, code in documentation, Chinese man pages, file lists).
Every document here was written by somebody else and installed by ``setup.sh``.

One input file per source, named ``<source>.jsonl.gz`` or ``<source>.warc.gz``, so that
the reader's default ``source`` label (the file name without extensions) is the source
name. ``manifest.json`` lists each source's language, kind (``text``, ``html`` or
``junk``), package, document count and size. Deterministic: file lists are sorted,
sampling is seeded, gzip headers carry no timestamp and WARC records get fixed ids and
dates, so the same installed packages give the same bytes.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import io
import json
import os
import random
import re
import subprocess
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = ROOT / "bench" / "data" / "realtext"
SAMPLE_JSONL = ROOT / "data" / "sample" / "raw" / "jsonl"
MAN = Path("/usr/share/man")
KERNEL_DOC = Path("/usr/share/doc/linux-doc/Documentation")
PY_HTML = Path("/usr/share/doc/python3/html")
DEBREF = Path("/usr/share/debian-reference")
LICENSES = Path("/usr/share/common-licenses")
DOC = Path("/usr/share/doc")
FORTUNES = Path("/usr/share/games/fortunes")
DPKG_INFO = Path("/var/lib/dpkg/info")
WORDS = Path("/usr/share/dict/words")
SEED = 20240601
MAX_DOC_CHARS = 100_000  # longer files (big changelogs, file lists) are cut at a blank line before this
WARC_DATE = "2024-06-01T00:00:00Z"
UTF8_ENV = {"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "MANWIDTH": "80", "MAN_KEEP_FORMATTING": ""}

Record = dict[str, Any]  # {"id", "text", "url"} (JSONL) or {"id", "url", "html"} (WARC)

# -- text helpers ----------------------------------------------------------------------------------
ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|[@-Z\\-_])")
OVERSTRIKE = re.compile(r"[^\x08]\x08")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def terminal_to_text(s: str) -> str:
    """Plain text from terminal output: no ANSI codes, no backspace overstrike, no stray
    control characters, no trailing spaces, at most two blank lines in a row."""
    s = ANSI.sub("", s)
    while "\x08" in s:
        t = OVERSTRIKE.sub("", s)
        if t == s:
            break
        s = t
    s = CONTROL.sub("", s.replace("\r\n", "\n"))
    lines = [line.rstrip() for line in s.split("\n")]
    s = re.sub(r"\n{4,}", "\n\n\n", "\n".join(lines))
    return s.strip("\n")


def cut(text: str, limit: int = MAX_DOC_CHARS) -> str:
    """At most ``limit`` characters, cut at the last blank line (else line) before it."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    at = head.rfind("\n\n")
    if at < limit // 2:
        at = head.rfind("\n")
    return head[: at if at > 0 else limit].rstrip()


def read_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.name.endswith(".gz") else data


def read_utf8(path: Path) -> str | None:
    """The file's text (gunzipped), or None when it is not valid UTF-8: never mojibake."""
    try:
        return read_bytes(path).decode("utf-8")
    except (UnicodeDecodeError, OSError, EOFError, gzip.BadGzipFile):
        return None


def sample(items: list, n: int, salt: str) -> list:
    """A seeded sample of ``n`` items in their (sorted) order, the same on every run."""
    if len(items) <= n:
        return list(items)
    rng = random.Random(f"{SEED}:{salt}")
    keep = sorted(rng.sample(range(len(items)), n))
    return [items[i] for i in keep]


def unique_files(paths: Iterable[Path]) -> list[Path]:
    """Regular files, symlinks resolved, each real file once (the first name in sorted order)."""
    seen: set[Path] = set()
    out = []
    for p in sorted(paths):
        try:
            real = p.resolve(strict=True)
        except (OSError, RuntimeError):
            continue
        if real.is_file() and real not in seen:
            seen.add(real)
            out.append(p)
    return out


# -- man pages -------------------------------------------------------------------------------------
def is_so_stub(path: Path) -> bool:
    """A man page that only includes another (``.so man1/x.1``): rendering it gives nothing new."""
    try:
        head = read_bytes(path)[:400].decode("utf-8", "replace")
    except (OSError, EOFError, gzip.BadGzipFile):
        return True
    body = [line for line in head.splitlines() if line.strip() and not line.startswith(('.\\"', "'\\\""))]
    return bool(body) and body[0].startswith(".so ") and len(body) <= 2


# What ``man --nj --nh`` feeds groff before a page: no adjustment, no hyphenation, and the
# requests that would turn them back on made no-ops.
ROFF_PREAMBLE = b".na\n.de ad\n..\n.nh\n.de hy\n..\n"
GROFF = "preconv -e UTF-8 | tbl | groff -man -Tutf8 -rLL=78n -rLT=78n -P-c 2>/dev/null | col -bx"


def render_man(path: Path) -> str:
    """A man page as ``MANWIDTH=80 man --nj --nh`` shows it (ragged right, no hyphenation),
    through ``col -bx``, in a UTF-8 locale. groff is called directly: ``man -l`` hangs on
    some pages here (zh_CN df.1) and costs twice the time. Pages that are not UTF-8 give ""."""
    try:
        source = read_bytes(path)
        source.decode("utf-8")
    except (OSError, EOFError, gzip.BadGzipFile, UnicodeDecodeError):
        return ""
    env = {**os.environ, **UTF8_ENV}
    try:
        proc = subprocess.run(
            ["sh", "-c", GROFF],
            input=ROFF_PREAMBLE + source,
            capture_output=True,
            env=env,
            timeout=60,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return ""
    text = terminal_to_text(proc.stdout.decode("utf-8", "replace"))
    return re.sub(r"\n{3,}", "\n\n", text)  # man squeezes blank lines (page breaks) the same way


def man_family(path: Path) -> str:
    """``git-commit.1.gz`` -> ``git``: pages of one family share templates."""
    return re.split(r"[_.-]", path.name, maxsplit=1)[0].lower()


def man_pages(dirs: list[Path], per_family: int | None) -> list[Path]:
    """Real man pages (no ``.so`` stubs, each file once), at most ``per_family`` per family
    so that one huge family (16,000 generated ``gcloud`` pages here) does not fill a sample."""
    files = unique_files(p for d in dirs if d.is_dir() for p in d.iterdir())
    if per_family:
        by_family: dict[str, list[Path]] = defaultdict(list)
        for p in files:
            by_family[man_family(p)].append(p)
        files = sorted(p for fam, ps in by_family.items() for p in sample(ps, per_family, fam))
    return [p for p in files if not is_so_stub(p)]


def rendered(
    paths: list[Path], n: int, salt: str, min_chars: int, check: Callable[[str], bool]
) -> list[tuple[Path, str]]:
    """Render a seeded sample of man pages in parallel; keep those that render to real text."""
    picked = sample(paths, min(len(paths), int(n * 1.15) + 5), salt)  # spare ones for failed renders
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        texts = list(pool.map(render_man, picked))
    ok = [(p, t) for p, t in zip(picked, texts, strict=True) if len(t) >= min_chars and check(t)]
    return ok[:n]


def cjk_share(text: str) -> float:
    cjk = sum(1 for c in text if "\u4e00" <= c <= "\u9fff" or "\u3400" <= c <= "\u4dbf")
    letters = sum(1 for c in text if c.isalpha())
    return cjk / letters if letters else 0.0


def not_mojibake(text: str) -> bool:
    """No replacement characters and no UTF-8-read-as-Latin-1 pairs (``Ã©``, ``â€``)."""
    return "\ufffd" not in text and not re.search(r"[ÃÂâ][\x80-\xbf€™œ]", text)


def man_url(path: Path, lang: str = "") -> str:
    section = path.parent.name.removeprefix("man")
    name = path.name.removesuffix(".gz")
    name = name.rsplit(".", 1)[0] if "." in name else name
    prefix = f"{lang}/" if lang else ""
    return f"https://manpages.debian.org/bookworm/{prefix}{name}.{section}"


def build_man_en(n: int) -> Iterator[Record]:
    pages = man_pages([MAN / f"man{s}" for s in ("1", "5", "8")], per_family=3)
    for p, text in rendered(pages, n, "man-en", 200, lambda t: not_mojibake(t) and cjk_share(t) < 0.01):
        yield {"id": f"man-en/{p.parent.name}/{p.name}", "text": text, "url": man_url(p)}


def build_man_zh(n: int) -> Iterator[Record]:
    dirs = [MAN / loc / d.name for loc in ("zh_CN", "zh_TW") for d in sorted((MAN / loc).glob("man*"))]
    pages = man_pages(dirs, per_family=None)
    for p, text in rendered(pages, n, "man-zh", 100, lambda t: not_mojibake(t) and cjk_share(t) > 0.2):
        loc = p.parent.parent.name
        yield {"id": f"man-zh/{loc}/{p.parent.name}/{p.name}", "text": text, "url": man_url(p, loc)}


def build_wrong_lang(n: int) -> Iterator[Record]:
    """German and French man pages: real text in a language the pipeline does not keep."""
    for loc in ("de", "fr"):
        dirs = [MAN / loc / f"man{s}" for s in ("1", "5", "8")]
        pages = man_pages(dirs, per_family=3)
        for p, text in rendered(pages, n // 2, f"wrong-{loc}", 200, not_mojibake):
            yield {
                "id": f"junk-wrong-lang/{loc}/{p.parent.name}/{p.name}",
                "text": text,
                "url": man_url(p, loc),
            }


# -- plain-text documentation ----------------------------------------------------------------------
def text_files(root: Path, suffixes: tuple[str, ...], exclude: str | None = None) -> list[Path]:
    out = []
    for p in root.rglob("*"):
        rel = p.relative_to(root).as_posix()
        if exclude and rel.startswith(exclude):
            continue
        if p.name.removesuffix(".gz").endswith(suffixes):
            out.append(p)
    return unique_files(out)


def plain_docs(
    paths: list[Path],
    n: int,
    salt: str,
    id_of: Callable[[Path], str],
    url_of: Callable[[Path], str | None],
    min_chars: int = 100,
    check: Callable[[str], bool] = not_mojibake,
) -> Iterator[Record]:
    """Seeded sample of text files: gunzipped, valid UTF-8, cut at ``MAX_DOC_CHARS``."""
    count = 0
    for p in sample(paths, min(len(paths), int(n * 1.2) + 5), salt):
        text = read_utf8(p)
        if text is None:
            continue
        text = cut(terminal_to_text(text))
        if len(text.strip()) < min_chars or not check(text):
            continue
        yield {"id": id_of(p), "text": text, "url": url_of(p)}
        count += 1
        if count >= n:
            return


def kernel_url(rel: str) -> str:
    rel = rel.removesuffix(".gz")
    for ext in (".rst", ".txt"):
        rel = rel.removesuffix(ext)
    return f"https://docs.kernel.org/{rel}.html"


def build_kernel_en(n: int) -> Iterator[Record]:
    paths = text_files(KERNEL_DOC, (".rst", ".txt"), exclude="translations/")
    rel = lambda p: p.relative_to(KERNEL_DOC).as_posix()  # noqa: E731
    yield from plain_docs(
        paths, n, "kernel-en", lambda p: f"kernel-en/{rel(p)}", lambda p: kernel_url(rel(p))
    )


def build_kernel_zh(n: int) -> Iterator[Record]:
    root = KERNEL_DOC / "translations"
    paths = [p for loc in ("zh_CN", "zh_TW") for p in text_files(root / loc, (".rst", ".txt"))]
    rel = lambda p: p.relative_to(KERNEL_DOC).as_posix()  # noqa: E731
    yield from plain_docs(
        paths,
        n,
        "kernel-zh",
        lambda p: f"kernel-zh/{rel(p)}",
        lambda p: kernel_url(rel(p)),
        check=lambda t: not_mojibake(t) and cjk_share(t) > 0.2,
    )


def build_licenses(n: int) -> Iterator[Record]:
    paths = unique_files(LICENSES.iterdir())
    yield from plain_docs(paths, n, "licenses", lambda p: f"licenses/{p.name}", lambda p: None)


README_NAME = re.compile(r"^(readme|news|changelog)|\.txt(\.gz)?$", re.IGNORECASE)


def build_readmes(n: int) -> Iterator[Record]:
    """README*, NEWS*, changelog* (not changelog.Debian) and *.txt of /usr/share/doc/<package>/."""
    paths = []
    for pkg in sorted(DOC.iterdir()):
        if not pkg.is_dir() or pkg.is_symlink():
            continue
        for p in sorted(pkg.iterdir()):
            name = p.name.lower()
            if README_NAME.search(name) and not name.startswith("changelog.debian") and ".html" not in name:
                paths.append(p)
    paths = unique_files(paths)
    yield from plain_docs(paths, n, "readmes", lambda p: f"readmes/{p.parent.name}/{p.name}", lambda p: None)


def fortune_entries(path: Path) -> list[str]:
    text = read_utf8(path)
    if text is None:
        return []
    entries = re.split(r"(?m)^%\s*$", terminal_to_text(text))
    # a few entries are double-encoded in the package itself (law, pets): left out
    return [e.strip("\n") for e in entries if e.strip() and not_mojibake(e)]


def fortune_docs(
    paths: list[Path], n: int, salt: str, source: str, min_bytes: int = 1600, max_bytes: int = 3200
) -> Iterator[Record]:
    """Consecutive fortune entries grouped into documents of about ``min_bytes``..``max_bytes``
    of UTF-8 (so ~550-1,100 Chinese characters, ~1,600-3,200 English ones)."""
    docs = []
    for p in paths:
        group: list[str] = []
        size = 0
        part = 0
        for entry in fortune_entries(p):
            n_bytes = len(entry.encode("utf-8")) + 2
            if group and size + n_bytes > max_bytes:
                if size >= min_bytes // 2:
                    docs.append((p, part, "\n\n".join(group)))
                    part += 1
                group, size = [], 0
            group.append(entry)
            size += n_bytes
            if size >= min_bytes:
                docs.append((p, part, "\n\n".join(group)))
                part += 1
                group, size = [], 0
        if group and size >= min_bytes // 2:
            docs.append((p, part, "\n\n".join(group)))
    for p, part, text in sample(docs, n, salt):
        yield {"id": f"{source}/{p.name}/{part:04d}", "text": text, "url": None}


def package_files(package: str) -> set[str]:
    lst = DPKG_INFO / f"{package}.list"
    return set(lst.read_text().split("\n")) if lst.exists() else set()


def build_fortunes_en(n: int) -> Iterator[Record]:
    zh = package_files("fortunes-zh")
    paths = [
        p
        for p in sorted(FORTUNES.iterdir())
        if p.is_file() and not p.is_symlink() and p.suffix not in (".dat", ".u8") and str(p) not in zh
    ]
    yield from fortune_docs(paths, n, "fortunes-en", "fortunes-en")


def build_fortunes_zh(n: int) -> Iterator[Record]:
    zh = package_files("fortunes-zh")
    paths = [
        p
        for p in sorted(FORTUNES.iterdir())
        if str(p) in zh and p.is_file() and not p.is_symlink() and p.suffix not in (".dat", ".u8")
    ]
    yield from fortune_docs(paths, n, "fortunes-zh", "fortunes-zh")


def build_kjv(n: int) -> Iterator[Record]:
    """The bundled sample's KJV chapters (already real text); each id once."""
    records, seen = [], set()
    for path in sorted(SAMPLE_JSONL.glob("kjv-*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                rec = json.loads(line)
                if rec.get("id") in seen or not isinstance(rec.get("text"), str):
                    continue
                seen.add(rec.get("id"))
                records.append({"id": f"kjv/{rec['id']}", "text": rec["text"], "url": rec.get("url")})
    yield from sample(records, n, "kjv")


# -- HTML (WARC) -----------------------------------------------------------------------------------
NAVIGATION = re.compile(r"^(genindex(-(?!all)[^/]*)?|py-modindex|contents)\.html$")


def html_records(paths: list[tuple[Path, str]], n: int, salt: str) -> Iterator[Record]:
    for p, url in sample(paths, n, salt):
        data = read_bytes(p)
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        yield {"id": f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, url)}>", "url": url, "html": data}


def python_pages() -> list[Path]:
    root = PY_HTML.resolve()
    return sorted(p for p in root.rglob("*.html") if not p.relative_to(root).as_posix().startswith("_"))


def py_url(p: Path) -> str:
    return f"https://docs.python.org/3/{p.relative_to(PY_HTML.resolve()).as_posix()}"


def build_python_html(n: int) -> Iterator[Record]:
    root = PY_HTML.resolve()
    pages = [p for p in python_pages() if p.parent != root or not NAVIGATION.match(p.name)]
    pages = [p for p in pages if p.name not in ("search.html", "genindex-all.html")]
    yield from html_records([(p, py_url(p)) for p in pages], n, "python-html")


def build_navigation(n: int) -> Iterator[Record]:
    """Only the index pages of the Python docs: link lists with no prose."""
    root = PY_HTML.resolve()
    pages = [p for p in python_pages() if p.parent == root and NAVIGATION.match(p.name)]
    yield from html_records([(p, py_url(p)) for p in pages], n, "junk-navigation")


def build_debref(suffix: str) -> Callable[[int], Iterator[Record]]:
    def build(n: int) -> Iterator[Record]:
        pages = sorted(DEBREF.glob(f"*.{suffix}.html"))
        urls = [(p, f"https://www.debian.org/doc/manuals/debian-reference/{p.name}") for p in pages]
        yield from html_records(urls, n, f"debref-{suffix}")

    return build


# -- junk ------------------------------------------------------------------------------------------
def build_filelists(n: int) -> Iterator[Record]:
    """dpkg's per-package file lists: one path per line, no prose."""
    paths = sorted(DPKG_INFO.glob("*.list"))
    yield from plain_docs(
        paths, n, "filelists", lambda p: f"junk-filelists/{p.name}", lambda p: None, min_chars=200
    )


def hexdump(data: bytes, offset: int) -> str:
    """``hexdump -C`` layout."""
    lines = []
    for i in range(0, len(data), 16):
        row = data[i : i + 16]
        hexes = " ".join(f"{b:02x}" for b in row[:8]) + "  " + " ".join(f"{b:02x}" for b in row[8:])
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in row)
        lines.append(f"{offset + i:08x}  {hexes:<48}  |{text}|")
    return "\n".join(lines)


def build_binary_ish(n: int) -> Iterator[Record]:
    """Slices (1-3 KB) of real ELF binaries from /usr/bin as base64 or hexdump text."""
    bins = [p for p in unique_files(Path("/usr/bin").iterdir()) if p.stat().st_size > 16_384]
    elves = []
    for p in bins:
        with open(p, "rb") as f:
            if f.read(4) == b"\x7fELF":
                elves.append(p)
    rng = random.Random(f"{SEED}:binary")
    for i, p in enumerate(sample(elves, n, "binary-ish")):
        size = p.stat().st_size
        length = rng.randrange(1024, 3072)
        start = rng.randrange(0, max(1, size - length))
        with open(p, "rb") as f:
            f.seek(start)
            data = f.read(length)
        if i % 2:
            text = hexdump(data, start)
        else:
            b64 = base64.b64encode(data).decode()
            text = "\n".join(b64[j : j + 76] for j in range(0, len(b64), 76))
        yield {"id": f"junk-binary-ish/{p.name}@{start}", "text": text, "url": None}


def build_wordlist(n: int) -> Iterator[Record]:
    """Consecutive runs of 200-600 words of the system dictionary, one word per line."""
    if WORDS.exists():
        words = WORDS.read_text(encoding="utf-8").split("\n")
    else:  # no dictionary: the NAME lines of the man page index, sorted
        words = sorted({p.name.split(".")[0] for p in (MAN / "man1").iterdir()})
    words = [w for w in words if w]
    rng = random.Random(f"{SEED}:words")
    starts = sorted(rng.sample(range(0, max(1, len(words) - 600)), min(n, max(1, len(words) - 600))))
    for s in starts:
        k = rng.randrange(200, 600)
        yield {"id": f"junk-wordlist/{s}", "text": "\n".join(words[s : s + k]), "url": None}


# -- sources ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Source:
    """One corpus source: a file ``<name>.<fmt>.gz`` and what it holds."""

    name: str
    lang: str  # "en", "zh", "de+fr", "none"
    kind: str  # "text" (plain documents), "html" (WARC pages), "junk" (should not survive clean)
    fmt: str  # "jsonl" or "warc"
    packages: tuple[str, ...]
    build: Callable[[int], Iterator[Record]]
    description: str


SOURCES: tuple[Source, ...] = (
    Source(
        "man-en",
        "en",
        "text",
        "jsonl",
        ("manpages", "man-db", "+ installed packages"),
        build_man_en,
        "English man pages (sections 1, 5, 8), rendered to 80-column plain text",
    ),
    Source(
        "man-zh",
        "zh",
        "text",
        "jsonl",
        ("manpages-zh",),
        build_man_zh,
        "Chinese man pages (zh_CN, zh_TW), rendered to plain text",
    ),
    Source(
        "kernel-en",
        "en",
        "text",
        "jsonl",
        ("linux-doc",),
        build_kernel_en,
        "Linux kernel documentation (.rst/.txt), translations excluded",
    ),
    Source(
        "kernel-zh",
        "zh",
        "text",
        "jsonl",
        ("linux-doc",),
        build_kernel_zh,
        "Linux kernel documentation, zh_CN and zh_TW translations",
    ),
    Source(
        "python-html",
        "en",
        "html",
        "warc",
        ("python3-doc", "python3.11-doc"),
        build_python_html,
        "Python 3 HTML documentation pages as WARC responses",
    ),
    Source(
        "debref-en",
        "en",
        "html",
        "warc",
        ("debian-reference-en",),
        build_debref("en"),
        "Debian Reference (English) HTML chapters as WARC responses",
    ),
    Source(
        "debref-zh",
        "zh",
        "html",
        "warc",
        ("debian-reference-zh-cn",),
        build_debref("zh-cn"),
        "Debian Reference (Simplified Chinese) HTML chapters as WARC responses",
    ),
    Source(
        "licenses",
        "en",
        "text",
        "jsonl",
        ("base-files",),
        build_licenses,
        "/usr/share/common-licenses: hard-wrapped licence texts",
    ),
    Source(
        "readmes",
        "en",
        "text",
        "jsonl",
        ("(all installed packages)",),
        build_readmes,
        "README*, NEWS*, changelog*, *.txt of /usr/share/doc/<package>/",
    ),
    Source(
        "fortunes-en",
        "en",
        "text",
        "jsonl",
        ("fortunes",),
        build_fortunes_en,
        "English fortune cookies, consecutive entries grouped into ~1.6-3.2 KB documents",
    ),
    Source(
        "fortunes-zh",
        "zh",
        "text",
        "jsonl",
        ("fortunes-zh",),
        build_fortunes_zh,
        "Chinese fortunes (Tang/Song poems, sayings, Debian texts), grouped into ~1.6-3.2 KB documents",
    ),
    Source(
        "kjv",
        "en",
        "text",
        "jsonl",
        ("(bundled sample)",),
        build_kjv,
        "King James Bible chapters from data/sample/raw/jsonl/kjv-*.jsonl.gz",
    ),
    Source(
        "junk-wrong-lang",
        "de+fr",
        "junk",
        "jsonl",
        ("manpages-de", "manpages-fr"),
        build_wrong_lang,
        "German and French man pages (languages the default config does not keep)",
    ),
    Source(
        "junk-filelists",
        "none",
        "junk",
        "jsonl",
        ("dpkg",),
        build_filelists,
        "dpkg file lists (/var/lib/dpkg/info/*.list): one path per line",
    ),
    Source(
        "junk-binary-ish",
        "none",
        "junk",
        "jsonl",
        ("(binaries in /usr/bin)",),
        build_binary_ish,
        "1-3 KB slices of ELF binaries as base64 or hexdump -C text",
    ),
    Source(
        "junk-navigation",
        "en",
        "junk",
        "warc",
        ("python3.11-doc",),
        build_navigation,
        "Python docs index pages only (genindex-*, py-modindex, contents) as WARC",
    ),
    Source(
        "junk-wordlist",
        "en",
        "junk",
        "jsonl",
        ("wamerican",),
        build_wordlist,
        "runs of 200-600 consecutive words of /usr/share/dict/words, one per line",
    ),
)


def write_jsonl(path: Path, records: list[Record]) -> None:
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as f:
        for rec in records:
            line = json.dumps(
                {"id": rec["id"], "text": rec["text"], "url": rec.get("url")}, ensure_ascii=False
            )
            f.write(line.encode("utf-8") + b"\n")


def write_warc(path: Path, records: list[Record]) -> None:
    """``response`` records with an HTTP ``Content-Type: text/html`` header, fixed ids and dates."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with open(path, "wb") as f:
        writer = WARCWriter(f, gzip=True)
        for rec in records:
            http = StatusAndHeaders(
                "200 OK",
                [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(rec["html"])))],
                protocol="HTTP/1.1",
            )
            record = writer.create_warc_record(
                rec["url"],
                "response",
                payload=io.BytesIO(rec["html"]),
                http_headers=http,
                warc_headers_dict={"WARC-Record-ID": rec["id"], "WARC-Date": WARC_DATE},
            )
            writer.write_record(record)


def package_version(pkg: str) -> str | None:
    if pkg.startswith(("(", "+")):
        return None
    proc = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True, check=False
    )
    return proc.stdout.strip() or None


def build(out: Path, max_per_source: int, only: list[str] | None = None) -> dict:
    """Write every source's file and ``manifest.json``; return the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / "manifest.json"
    manifest: dict = {"max_per_source": max_per_source, "seed": SEED, "sources": {}}
    if only and manifest_path.exists():  # rebuilding some sources keeps the others' entries
        manifest["sources"] = json.loads(manifest_path.read_text())["sources"]
    total_start = time.perf_counter()
    for src in SOURCES:
        if only and src.name not in only:
            continue
        start = time.perf_counter()
        # junk only has to show that it is dropped: half the cap is plenty
        cap = max(1, max_per_source // 2) if src.kind == "junk" else max_per_source
        records = list(src.build(cap))
        ids = [r["id"] for r in records]
        assert len(ids) == len(set(ids)), f"{src.name}: duplicate ids"
        path = out / f"{src.name}.{src.fmt}.gz"
        (write_warc if src.fmt == "warc" else write_jsonl)(path, records)
        text_bytes = sum(len(r["html"]) if "html" in r else len(r["text"].encode()) for r in records)
        manifest["sources"][src.name] = {
            "file": path.name,
            "lang": src.lang,
            "kind": src.kind,
            "format": src.fmt,
            "packages": {p: package_version(p) for p in src.packages},
            "description": src.description,
            "documents": len(records),
            "mb": round(text_bytes / 1e6, 3),
        }
        print(
            f"{src.name:<17} {len(records):>5} docs {text_bytes / 1e6:>7.2f} MB  "
            f"({time.perf_counter() - start:.1f}s)",
            flush=True,
        )
    manifest_path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    docs = sum(s["documents"] for s in manifest["sources"].values())
    size = sum(s["mb"] for s in manifest["sources"].values())
    print(
        f"{'total':<17} {docs:>5} docs {size:>7.2f} MB in {time.perf_counter() - total_start:.0f}s -> {out}"
    )
    return manifest


def load_manifest(out: Path = DEFAULT_OUT) -> dict:
    """The manifest of a built corpus; tells how to build it when it is missing."""
    path = out / "manifest.json"
    if not path.exists():
        raise SystemExit(f"{path} is missing: run `make bench-data` (bench/realtext/setup.sh + build_corpus)")
    return json.loads(path.read_text())


def shown(path: Path) -> str:
    """A path as a results file records it: relative to the repository when inside it."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def code_version(root: Path = ROOT) -> dict[str, Any]:
    """Which pipeline code a benchmark measured: the commit, and whether ``pipelines/`` or
    ``schemas/`` had uncommitted changes (several people edit one working tree). A copy
    without git (e.g. a ``git archive`` snapshot) names its commit in ``LMFORGE_CODE_REV``."""
    if os.environ.get("LMFORGE_CODE_REV"):
        return {"commit": os.environ["LMFORGE_CODE_REV"], "uncommitted_pipeline_changes": False}
    try:
        rev = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "pipelines", "schemas"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "uncommitted_pipeline_changes": None}
    return {"commit": rev, "uncommitted_pipeline_changes": bool(dirty)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--max-per-source", type=int, default=800, help="documents per source at most")
    ap.add_argument("--only", default="", help="comma-separated source names to (re)build")
    args = ap.parse_args(argv)
    build(args.out, args.max_per_source, [s for s in args.only.split(",") if s] or None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
