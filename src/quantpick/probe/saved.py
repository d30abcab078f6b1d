"""A saved `quantpick probe --json` file (`--hardware FILE`), read with a size cap and validated field by field.

The file is input: every value is checked against the probe document's types (quantpick.documents)
before a Hardware is built from it, and a bad one names its field.
"""

from __future__ import annotations

import json
import math
import types
from typing import Any, Literal, NoReturn, Union, get_args, get_origin, get_type_hints

from quantpick.documents import CpuDoc, GpuDoc, RamDoc
from quantpick.errors import InvalidValue
from quantpick.hardware import Hardware
from quantpick.states import BACKENDS

MAX_BYTES = 1024 * 1024  # a probe file is a few KiB; anything near this is not one
MAX_GPUS = 64
MAX_INT = 1 << 60  # bytes: 1 EiB
HINT = "save one with: quantpick probe --json > hw.json"

# The fields a file must carry; the others default when absent (older files, hand-written ones).
REQUIRED = {"ram": ("total_bytes",), "gpu": ("name", "budget_bytes")}


def load_hardware_file(path: str) -> Hardware:
    data = _read(path)
    if not isinstance(data, dict) or data.get("schema_version") != 1 or "ram" not in data:
        _fail(path, None, "is not a quantpick probe file (schema_version 1 with 'ram')")
    ram = _record(path, "ram", data["ram"], RamDoc, REQUIRED["ram"])
    ram.setdefault("available_bytes", ram["total_bytes"])
    ram.setdefault("source", "file")
    gpus_raw = data.get("gpus") or []
    if not isinstance(gpus_raw, list) or len(gpus_raw) > MAX_GPUS:
        _fail(path, "gpus", f"expected a list of at most {MAX_GPUS} GPUs")
    gpus = []
    for index, raw in enumerate(gpus_raw):
        gpu = _record(path, f"gpus[{index}]", raw, GpuDoc, REQUIRED["gpu"])
        gpu.setdefault("vendor", "override")
        gpu.setdefault("total_bytes", gpu["budget_bytes"])
        gpu.setdefault("free_bytes", None)
        gpu.setdefault("source", "file")
        gpus.append(gpu)
    cpu = _record(path, "cpu", data.get("cpu") or {}, CpuDoc, ())
    backend = data.get("backend", "cpu")
    if backend not in BACKENDS:
        _fail(path, "backend", f"{str(backend)[:40]!r} is not one of {', '.join(BACKENDS)}")
    warnings = data.get("warnings") or []
    if not isinstance(warnings, list) or not all(isinstance(w, str) for w in warnings):
        _fail(path, "warnings", "expected a list of strings")
    clean = {"ram": ram, "gpus": gpus, "cpu": cpu, "backend": backend, "warnings": warnings}
    return Hardware.from_dict(clean, source=str(path))


def _read(path: str) -> Any:
    try:
        with open(path, "rb") as stream:
            raw = stream.read(MAX_BYTES + 1)
    except OSError as exc:
        raise InvalidValue("hardware", f"cannot read {path}: {exc.strerror or exc}", hint=HINT) from None
    if len(raw) > MAX_BYTES:
        _fail(path, None, f"is larger than {MAX_BYTES // 1024} KiB: not a probe file")
    try:
        return json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        _fail(path, None, f"is not JSON ({str(exc)[:80]})")


def _fail(path: str, field: str | None, message: str) -> NoReturn:
    where = f"{path}: {field}" if field else path
    raise InvalidValue("hardware", f"{where} {message}", hint=HINT, code="hardware_file")


def _record(path: str, where: str, raw: object, typed: type[Any], required: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        _fail(path, where, "expected an object")
    hints = get_type_hints(typed)
    record: dict[str, Any] = {}
    for key in required:
        if key not in raw:
            _fail(path, f"{where}.{key}", "is missing")
    for key, value in raw.items():
        if key not in hints:
            continue  # fields of newer versions are ignored
        if not _matches(value, hints[key]):
            _fail(path, f"{where}.{key}", f"has the wrong type or range: {str(value)[:40]!r}")
        record[key] = value
    return record


def _matches(value: Any, annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return any(_matches(value, arg) for arg in get_args(annotation))
    if origin is Literal:
        return value in get_args(annotation)
    if origin is dict:
        _key, item = get_args(annotation)
        return (
            isinstance(value, dict)
            and len(value) <= 256
            and all(isinstance(k, str) and _matches(v, item) for k, v in value.items())
        )
    if annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_INT
    if annotation is float:
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        return number and math.isfinite(value) and 0 <= value <= 1e9
    if annotation is str:
        return isinstance(value, str) and len(value) <= 1024
    return False
