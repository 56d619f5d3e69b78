"""Salesforce record ids: 15-character case-sensitive base-62 ids and their 18-character checksummed form."""

from __future__ import annotations

import re
from functools import lru_cache

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID_RE = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-5]{3})?$")
#: Characters 4-6 of every id this org issues (pod + reserved digit).
POD = "8c0"


#: Upper-case letters -> "1", every other character -> "0" (the checksum's bit per character).
_UPPER_BITS = str.maketrans({c: ("1" if "A" <= c <= "Z" else "0") for c in map(chr, range(128))})


def checksum(id15: str) -> str:
    """The 3-character suffix that makes a 15-character id case-insensitive."""
    bits = id15[:15].translate(_UPPER_BITS)
    if len(bits) < 15 or not (
        bits.isascii() and bits.isdigit()
    ):  # not 15 ASCII characters: the character-by-character rule
        out = ""
        for block in range(3):
            value = 0
            for i, ch in enumerate(id15[block * 5 : block * 5 + 5]):
                if "A" <= ch <= "Z":
                    value |= 1 << i
            out += _SUFFIX[value]
        return out
    # Character i of a block is bit i: reverse each 5-character block and read it as binary.
    return _SUFFIX[int(bits[4::-1], 2)] + _SUFFIX[int(bits[9:4:-1], 2)] + _SUFFIX[int(bits[14:9:-1], 2)]


def to18(id15: str) -> str:
    """The 18-character form of a 15-character id."""
    return id15 + checksum(id15)


def normalize(value: object) -> str | None:
    """The canonical 18-character id for a 15- or 18-character id (any case for 18), or None if malformed."""
    if not isinstance(value, str) or len(value) not in (15, 18):
        return None
    return _normalize(value)


@lru_cache(maxsize=1 << 17)
def _normalize(value: str) -> str | None:
    """The canonical 18-character id for a 15- or 18-character id (any case for 18), or None if malformed.

    An 18-character id's suffix encodes the case of its first 15 characters, so an id whose case was
    changed (e.g. lower-cased by a spreadsheet) still resolves.
    """
    if not isinstance(value, str) or not _ID_RE.match(value):
        return None
    if len(value) == 15:
        return to18(value)
    head, suffix = value[:15], value[15:].upper()
    fixed = []
    for block in range(3):
        bits = _SUFFIX.find(suffix[block])
        if bits < 0:
            return None
        for i, ch in enumerate(head[block * 5 : block * 5 + 5]):
            upper = bool(bits & (1 << i))
            if ch.isalpha():
                fixed.append(ch.upper() if upper else ch.lower())
            elif upper:
                return None
            else:
                fixed.append(ch)
    id15 = "".join(fixed)
    return id15 + checksum(id15)


def looks_like_id(value: str) -> bool:
    """Whether `value` has the shape of a Salesforce id (15 or 18 alphanumerics)."""
    return isinstance(value, str) and bool(_ID_RE.match(value))


def make_id(key_prefix: str, counter: int) -> str:
    """The 18-character id number `counter` of the object with `key_prefix`."""
    digits = ""
    n = counter
    for _ in range(9):
        n, r = divmod(n, 62)
        digits = _ALPHABET[r] + digits
    return to18(key_prefix + POD + digits)
