"""Build the bundled sample corpus in ``data/sample/raw`` from public-domain sources.

Inputs (see ``data/sample/README.md`` for provenance and licences):
  * the King James Bible as printed by Debian's ``bible-kjv`` program
    (``bible -l 100000 -m 100000 "Gen1:1-Rev22:21" > kjv.txt``);
  * the ``chinese``, ``tang300`` and ``song100`` files of Debian's ``fortunes-zh``.

The output mixes clean prose with planted trouble so that ``make demo`` visibly cleans
and deduplicates: exact duplicates, near-duplicates at known edit rates, shared
boilerplate lines, junk documents, PII, other languages, broken input records, HTML
files and a WARC file. Generation is seeded and byte-for-byte reproducible.

    python scripts/make_sample_corpus.py --kjv kjv.txt --fortunes DIR --out data/sample/raw
"""

from __future__ import annotations

import argparse
import gzip
import html
import io
import json
import random
import re
from pathlib import Path

ANSI = re.compile(r"\x1b\[[0-9;]*m")
CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")
CHAPTER = re.compile(r"^(\S.*) (\d+)$")
VERSE = re.compile(r"^\s+(\d+) (.*)$")

NAV_LINES = [
    "Home | Books | Search | About | Contact",
    "Skip to main content",
    "This site uses cookies to improve your experience. By continuing you accept our cookie policy.",
    "Copyright © 2024 Example Scripture Online. All rights reserved.",
    "Share this page: Facebook Twitter Email",
]
ZH_NAV_LINES = [
    "首页 | 文库 | 搜索 | 关于我们",
    "本站使用 Cookie 以改善您的浏览体验。继续浏览即表示您同意。",
    "版权所有 © 2024 示例文库 保留所有权利",
]


# -- sources -------------------------------------------------------------------------------------
def read_kjv(path: Path) -> list[tuple[str, int, str]]:
    """(book, chapter, prose) with verses joined into paragraphs of a few sentences each."""
    chapters: list[tuple[str, int, list[str]]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if m := CHAPTER.match(line):
            chapters.append((m.group(1), int(m.group(2)), []))
        elif (m := VERSE.match(line)) and chapters:
            chapters[-1][2].append(m.group(2).strip())
    out = []
    for book, num, verses in chapters:
        paragraphs, current = [], []
        for verse in verses:
            current.append(verse)
            if len(current) >= 4 and verse.endswith((".", "?", "!")):
                paragraphs.append(" ".join(current))
                current = []
        if current:
            paragraphs.append(" ".join(current))
        out.append((book, num, "\n\n".join(paragraphs)))
    return out


def unwrap_cjk(text: str) -> str:
    """Undo hard line wrapping inside Chinese paragraphs (web text is not wrapped at 70 columns)."""
    lines = text.split("\n")
    out: list[str] = []
    for line in lines:
        stripped = line.strip()
        if out and out[-1] and stripped and CJK.match(out[-1][-1]) and CJK.match(stripped[0]):
            out[-1] += stripped
        else:
            out.append(stripped if CJK.search(stripped) else line.rstrip())
    return "\n".join(out)


def read_fortunes(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    entries = [ANSI.sub("", e).strip() for e in text.split("\n%\n")]
    return [unwrap_cjk(e) for e in entries if e]


# -- planted trouble -----------------------------------------------------------------------------------
def near_duplicate_en(text: str, rng: random.Random, rate: float) -> str:
    """Substitute/delete about ``rate`` of the words and prepend a header line."""
    words = text.split(" ")
    out = []
    for w in words:
        r = rng.random()
        if r < rate / 2:
            continue
        out.append(rng.choice(["truly", "indeed", "also", "then"]) if r < rate else w)
    return "Reprinted with permission.\n\n" + " ".join(out)


def near_duplicate_zh(text: str, rng: random.Random, rate: float) -> str:
    """Substitute/delete about ``rate`` of the Chinese characters."""
    out = []
    for ch in text:
        r = rng.random()
        if CJK.match(ch) and r < rate / 2:
            continue
        out.append(rng.choice("的了是在有") if CJK.match(ch) and r < rate else ch)
    return "转载自网络。\n\n" + "".join(out)


JUNK = [
    "click here",
    "buy cheap watches " * 60,
    "lorem ipsum dolor sit amet " * 40,
    "$$$ !!! ### %%% &&& *** " * 30,
    "ok",
    "\n".join(["Login", "Register", "Cart (0)", "Menu", "Search"] * 10),
    "asdkjh qwpoeiru zmxncbv " * 50,
    "下载 免费 下载 免费 " * 80,
]

OTHER_LANGUAGES = [
    (
        "fr",
        "Au commencement, Dieu créa les cieux et la terre. La terre était informe et vide: il y avait des "
        "ténèbres à la surface de l'abîme, et l'esprit de Dieu se mouvait au-dessus des eaux. Dieu dit: Que la "
        "lumière soit! Et la lumière fut. Dieu vit que la lumière était bonne; et Dieu sépara la lumière d'avec "
        "les ténèbres. Dieu appela la lumière jour, et il appela les ténèbres nuit. Ainsi, il y eut un soir, et "
        "il y eut un matin: ce fut le premier jour.",
    ),
    (
        "de",
        "Am Anfang schuf Gott Himmel und Erde. Und die Erde war wüst und leer, und es war finster auf der Tiefe; "
        "und der Geist Gottes schwebte auf dem Wasser. Und Gott sprach: Es werde Licht! und es ward Licht. Und "
        "Gott sah, daß das Licht gut war. Da schied Gott das Licht von der Finsternis und nannte das Licht Tag "
        "und die Finsternis Nacht. Da ward aus Abend und Morgen der erste Tag.",
    ),
]

PII_SUFFIX = (
    "\n\nFor questions about this edition write to the editor at {name}@example.org or call +1 (555) 010-{num:04d}."
    " Mirror server: 192.0.2.{ip}."
)


def html_page(title: str, body: str, lang: str) -> str:
    nav = ZH_NAV_LINES if lang == "zh" else NAV_LINES
    paragraphs = "\n".join(f"<p>{html.escape(p)}</p>" for p in body.split("\n\n") if p.strip())
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        "<script>var tracking = {id: 42};</script><style>body{font-family:serif}</style></head>\n<body>\n"
        f'<nav><a href="/">{html.escape(nav[0])}</a></nav>\n'
        f'<div class="cookie-banner">{html.escape(nav[1])}</div>\n'
        f"<main><article><h1>{html.escape(title)}</h1>\n{paragraphs}\n</article></main>\n"
        f"<footer>{html.escape(nav[-1])}</footer>\n</body></html>\n"
    )


# -- writers ---------------------------------------------------------------------------------------------
def write_jsonl_gz(path: Path, records: list[dict] | list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    # mtime=0: the same records always give the same bytes.
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
        for rec in records:
            line = rec if isinstance(rec, str) else json.dumps(rec, ensure_ascii=False)
            gz.write(line.encode("utf-8") + b"\n")
    path.write_bytes(buf.getvalue())


def write_warc(path: Path, pages: list[tuple[str, str]]) -> None:
    """Write response records (plus one request record) as a gzipped WARC, one gzip member per record."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=True)
    for i, (url, body) in enumerate(pages):
        payload = body.encode("utf-8")
        headers = StatusAndHeaders(
            "200 OK",
            [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(payload)))],
            protocol="HTTP/1.1",
        )
        record = writer.create_warc_record(
            url,
            "response",
            payload=io.BytesIO(payload),
            http_headers=headers,
            warc_headers_dict={
                "WARC-Date": "2024-01-01T00:00:00Z",
                "WARC-Record-ID": f"<urn:uuid:00000000-0000-4000-8000-{i:012d}>",
            },
        )
        writer.write_record(record)
        if i == 0:
            req = writer.create_warc_record(
                url,
                "request",
                payload=io.BytesIO(b"GET / HTTP/1.1\r\nHost: example.org\r\n\r\n"),
                warc_headers_dict={
                    "WARC-Date": "2024-01-01T00:00:00Z",
                    "WARC-Record-ID": "<urn:uuid:00000000-0000-4000-9000-000000000000>",
                },
            )
            writer.write_record(req)
    path.write_bytes(buf.getvalue())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kjv", type=Path, required=True)
    ap.add_argument("--fortunes", type=Path, required=True, help="directory with chinese, tang300, song100")
    ap.add_argument("--out", type=Path, default=Path("data/sample/raw"))
    args = ap.parse_args()
    rng = random.Random(20261122)
    out: Path = args.out

    # English: one document per KJV chapter, split over two files by testament.
    chapters = read_kjv(args.kjv)
    en_docs = [
        {
            "id": f"kjv/{book.replace(' ', '_')}/{num}",
            "text": text,
            "url": f"https://kjv.example.org/{book.replace(' ', '-').lower()}/{num}",
        }
        for book, num, text in chapters
    ]
    nt_start = next(i for i, d in enumerate(en_docs) if d["id"].startswith("kjv/Matthew/"))
    # The web part (WARC/HTML) takes the Psalms; the JSONL part takes everything else.
    psalms = [d for d in en_docs if d["id"].startswith("kjv/Psalms/")]
    old = [d for d in en_docs[:nt_start] if not d["id"].startswith("kjv/Psalms/")]
    new = en_docs[nt_start:]

    # Chinese: long fortunes one per document; proverbs and poems gathered into anthology pages.
    fortunes = read_fortunes(args.fortunes / "chinese")
    long_zh = [t for t in fortunes if len(t) >= 300]
    short_zh = [t for t in fortunes if len(t) < 300]
    zh_docs = [{"id": f"fortunes-zh/chinese/{i}", "text": t} for i, t in enumerate(long_zh)]
    for i in range(0, len(short_zh), 12):
        zh_docs.append(
            {"id": f"fortunes-zh/chinese-page/{i // 12}", "text": "\n\n".join(short_zh[i : i + 12])}
        )
    for name in ("tang300", "song100"):
        poems = read_fortunes(args.fortunes / name)
        for i in range(0, len(poems), 8):
            zh_docs.append({"id": f"fortunes-zh/{name}/{i // 8}", "text": "\n\n".join(poems[i : i + 8])})

    # PII in a few documents, so masking shows.
    for i, doc in enumerate(new[:25]):
        doc["text"] += PII_SUFFIX.format(name=f"editor{i}", num=i, ip=i + 10)

    write_jsonl_gz(out / "jsonl" / "kjv-old-testament.jsonl.gz", old)
    write_jsonl_gz(out / "jsonl" / "kjv-new-testament.jsonl.gz", new)
    write_jsonl_gz(out / "jsonl" / "fortunes-zh.jsonl.gz", zh_docs)

    # Mirror site: exact copies (new ids) and near-duplicates at known edit rates, with boilerplate lines.
    mirror = []
    for doc in rng.sample(old + new, 40):
        mirror.append(
            {
                "id": f"mirror/exact/{doc['id']}",
                "text": doc["text"],
                "url": doc["url"].replace("kjv.", "mirror."),
            }
        )
    for k, doc in enumerate(rng.sample(old + new, 60)):
        rate = (0.02, 0.05, 0.10, 0.30)[k % 4]
        text = near_duplicate_en(doc["text"], rng, rate)
        mirror.append({"id": f"mirror/near-{int(rate * 100):02d}/{doc['id']}", "text": text})
    for doc in rng.sample(zh_docs, 20):
        mirror.append({"id": f"mirror/exact/{doc['id']}", "text": doc["text"]})
    for k, doc in enumerate(rng.sample(zh_docs, 30)):
        rate = (0.02, 0.05, 0.10, 0.30)[k % 4]
        mirror.append(
            {
                "id": f"mirror/near-{int(rate * 100):02d}/{doc['id']}",
                "text": near_duplicate_zh(doc["text"], rng, rate),
            }
        )
    for rec in mirror:
        zh = bool(CJK.search(rec["text"][:200]))
        nav = ZH_NAV_LINES if zh else NAV_LINES
        rec["text"] = nav[0] + "\n" + rec["text"] + "\n" + "\n".join(nav[1:])
    write_jsonl_gz(out / "jsonl" / "mirror-site.jsonl.gz", mirror)

    # Junk, other languages, and broken records (quarantined, never a crash).
    junk: list[dict | str] = [{"id": f"junk/{i}", "text": t} for i, t in enumerate(JUNK)]
    junk += [{"id": f"other-lang/{lang}", "text": t} for lang, t in OTHER_LANGUAGES]
    junk += [
        '{"id": "broken/1", "text": "this line is not valid JSON',
        '{"id": "broken/2", "text": 12345}',
        '{"id": "broken/3", "body": "no text field"}',
        "[1, 2, 3]",
    ]
    write_jsonl_gz(out / "jsonl" / "junk.jsonl.gz", junk)
    # A line of invalid UTF-8 inside an otherwise good plain JSONL file.
    (out / "jsonl" / "scraped.jsonl").write_bytes(
        json.dumps(
            {"id": "scraped/1", "text": OTHER_LANGUAGES[0][1][:60] + " " + en_docs[5]["text"]}
        ).encode()
        + b"\n"
        + b'{"id": "scraped/2", "text": "caf\xe9 au lait \xff\xfe"}\n'
        + json.dumps({"id": "scraped/3", "text": en_docs[6]["text"]}).encode()
        + b"\n"
    )

    # Web part: Psalms and some Chinese pages as HTML inside a WARC, and a few loose HTML files.
    pages = [(d["url"], html_page(d["id"], d["text"], "en")) for d in psalms]
    pages += [
        (f"https://zh.example.org/{d['id']}", html_page(d["id"], d["text"], "zh")) for d in zh_docs[-30:]
    ]
    write_warc(out / "warc" / "crawl-00000.warc.gz", pages)
    html_dir = out / "html"
    html_dir.mkdir(parents=True, exist_ok=True)
    for d in rng.sample(old, 5):
        (html_dir / (d["id"].replace("/", "_") + ".html")).write_text(
            html_page(d["id"], d["text"], "en"), encoding="utf-8"
        )

    # Plain text: Ecclesiastes, one document per file.
    text_dir = out / "text"
    text_dir.mkdir(parents=True, exist_ok=True)
    for d in [d for d in old if d["id"].startswith("kjv/Ecclesiastes/")][:6]:
        (text_dir / (d["id"].replace("/", "_") + ".txt")).write_text(d["text"] + "\n", encoding="utf-8")

    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"wrote {out} ({total / 1e6:.2f} MB on disk)")


if __name__ == "__main__":
    main()
