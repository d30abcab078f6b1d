"""Byte sizes: parsing what people type and printing what people read."""

from __future__ import annotations

import re

from quantpick.errors import InvalidValue

GiB = 1024**3
MiB = 1024**2

_UNITS = {
    "": GiB,  # a bare number means GiB: nobody has 24-byte GPUs
    "b": 1,
    "k": 1024,
    "kib": 1024,
    "kb": 1000,
    "m": MiB,
    "mib": MiB,
    "mb": 1000**2,
    "g": GiB,
    "gib": GiB,
    "gb": 1000**3,
    "t": 1024**4,
    "tib": 1024**4,
    "tb": 1000**4,
}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-zA-Z]*)\s*$")
MAX_SIZE = 1024**5  # 1 PiB: more memory or disk than any machine quantpick plans for
_SIZE_HINT = "use a number with a unit, e.g. 24GiB, 24GB, 24000MiB or 1.5T (a bare number means GiB)"


def parse_size(text: str, *, field: str | None = None) -> int:
    """'24GiB', '24GB', '24000MiB', '1.5T', '12' (GiB) -> bytes. Single letters are binary (K, M, G, T)."""
    shown = text if len(text) <= 40 else text[:40] + "..."
    match = _SIZE_RE.match(text) if len(text) <= 100 else None
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _UNITS:
        raise InvalidValue(field, f"invalid size {shown!r}", hint=_SIZE_HINT, code="invalid_size")
    value = float(match.group(1)) * _UNITS[unit]
    if value > MAX_SIZE:
        raise InvalidValue(
            field, f"size {shown!r} is out of range (at most 1 PiB)", hint=_SIZE_HINT, code="invalid_size"
        )
    return int(round(value))


def format_size(num_bytes: int | float | None) -> str:
    """Human size with its binary unit, e.g. '4.58 GiB'."""
    if num_bytes is None:
        return "unknown"
    value = float(num_bytes)
    sign = "-" if value < 0 else ""
    value = abs(value)
    if value < 1024:
        return f"{sign}{int(value)} B"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    return f"{sign}{value:.2f} {unit}"


def format_decimal_size(num_bytes: int | float) -> str:
    """Human size in decimal units, as model cards give file sizes, e.g. '4.92 GB'."""
    value = float(num_bytes)
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.2f} {unit}"
    return f"{int(value)} B"
