"""Readable, unique, whitespace-free keys for a tokenizer's tokens (the rows of a token embedding).

The word2vec text format separates a key from its numbers by a space and ends a row with a
newline, so a key may hold no whitespace; gensim needs keys to be unique. The rule, per id:

* A special (added) token keeps its text: ``<|endoftext|>``.
* A byte-level BPE piece (GPT-2's scheme: every byte drawn as one printable character, a
  space as ``Ġ``) becomes the text of its bytes: ``Ġword`` -> `` word``, ``çļĦ`` -> ``的``.
  Other tokenizers' pieces (WordPiece ``##ing``, Metaspace ``▁word``) keep their string.
* A space becomes ``▁`` (U+2581, as SentencePiece writes it): `` word`` -> ``▁word``.
* Any other whitespace, control or invisible character, and every byte that is not part of a
  whole UTF-8 character (byte-level BPE splits multi-byte characters), becomes ``<0xHH>``
  per byte: ``\\n`` -> ``<0x0A>``, the first two bytes of ``你`` -> ``<0xE4><0xBD>``.
* An id the tokenizer does not have (an embedding with more rows than the tokenizer, or a
  synthetic dataset's stand-in tokenizer) is ``<id:N>``.
* A key already taken by a lower id gets ``#N`` (its id) appended, so keys stay unique.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterable, Mapping, Sequence

SPACE_MARK = "\u2581"  # ▁
# Characters written as <0xHH> bytes: control, format, surrogate (a stray byte), private use,
# unassigned, and every separator (space is handled first).
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"})


@functools.cache
def byte_level_chars() -> dict[str, int]:
    """GPT-2 byte-level BPE's character for each byte, inverted: ``{char: byte}``.

    The 188 printable Latin-1 bytes stand for themselves; the other 68 (controls, space,
    soft hyphen...) are drawn as U+0100 onwards, in byte order.
    """
    printable = [*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    table = {chr(b): b for b in printable}
    shifted = (b for b in range(256) if b not in table.values())
    table.update({chr(0x100 + n): b for n, b in enumerate(shifted)})
    return table


def byte_level_bytes(piece: str) -> bytes | None:
    """The bytes a byte-level BPE piece stands for, or None if it is not one."""
    table = byte_level_chars()
    try:
        return bytes(table[c] for c in piece)
    except KeyError:
        return None


def _escape_bytes(data: bytes) -> str:
    return "".join(f"<0x{b:02X}>" for b in data)


def readable_text(text: str) -> str:
    """``text`` with spaces as ``▁`` and whitespace or invisible characters as ``<0xHH>``."""
    out = []
    for c in text:
        if c == " ":
            out.append(SPACE_MARK)
        elif 0xDC80 <= ord(c) <= 0xDCFF:  # a byte that is no whole UTF-8 character (surrogateescape)
            out.append(f"<0x{ord(c) - 0xDC00:02X}>")
        elif c.isspace() or unicodedata.category(c) in _ESCAPED_CATEGORIES:
            out.append(_escape_bytes(c.encode("utf-8", "surrogatepass")))
        else:
            out.append(c)
    return "".join(out)


def readable_bytes(data: bytes) -> str:
    """The key text of a token's bytes: whole UTF-8 characters as text, stray bytes as ``<0xHH>``."""
    return readable_text(data.decode("utf-8", errors="surrogateescape"))


def piece_key(piece: str, byte_level: bool) -> str:
    """The key of one ordinary (not special) vocabulary piece."""
    data = byte_level_bytes(piece) if byte_level else None
    key = readable_bytes(data) if data is not None else readable_text(piece)
    return key or "<empty>"


def unique_keys(keys: Iterable[str]) -> list[str]:
    """``keys`` in id order, a repeated one suffixed ``#<id>`` (repeatedly, until it is new)."""
    seen: set[str] = set()
    out = []
    for i, key in enumerate(keys):
        while key in seen:
            key = f"{key}#{i}"
        seen.add(key)
        out.append(key)
    return out


def token_keys(
    pieces: Sequence[str | None], special: Mapping[int, str] | None = None, byte_level: bool = True
) -> list[str]:
    """One key per id: ``pieces[i]`` is the tokenizer's string of id ``i`` (None: no such id),
    ``special`` the ids of added tokens and their text."""
    special = special or {}
    raw = []
    for i, piece in enumerate(pieces):
        if i in special:
            raw.append(readable_text(special[i]) or f"<id:{i}>")
        elif piece is None:
            raw.append(f"<id:{i}>")
        else:
            raw.append(piece_key(piece, byte_level))
    return unique_keys(raw)


def is_byte_level(tokenizer_json: Mapping) -> bool:
    """Whether an HF ``tokenizers`` file decodes with GPT-2's byte-level scheme."""

    def has(section: object) -> bool:
        if not isinstance(section, Mapping):
            return False
        if section.get("type") == "ByteLevel":
            return True
        parts = section.get("decoders") or section.get("pretokenizers") or []
        return any(has(p) for p in parts)

    return has(tokenizer_json.get("decoder")) or has(tokenizer_json.get("pre_tokenizer"))


__all__ = [
    "SPACE_MARK",
    "byte_level_bytes",
    "byte_level_chars",
    "is_byte_level",
    "piece_key",
    "readable_bytes",
    "readable_text",
    "token_keys",
    "unique_keys",
]
