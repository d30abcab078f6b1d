"""The states a result can be in, as closed sets of strings: what JSON consumers may match on."""

from __future__ import annotations

from typing import Literal, TypeVar, get_args

Placement = Literal["gpu", "gpu+cpu", "cpu"]
Mode = Literal["auto", "speed", "quality"]
BudgetMode = Literal["speed", "quality"]  # the budget a pick was made in
Preference = Literal["auto", "k", "i", "any"]
Backend = Literal["cuda", "rocm", "metal", "vulkan", "cpu"]
Vendor = Literal["nvidia", "amd", "intel", "apple", "override"]
Family = Literal["float", "legacy", "k", "i", "ternary", "mxfp"]
Verdict = Literal["fits GPU", "fits GPU+CPU", "fits RAM", "too large", "excluded"]
ReserveSource = Literal["estimate", "default", "user"]
SplitStyle = Literal["gguf-split", "concat"]
OtherKind = Literal["mmproj", "imatrix", "drafter", "non-gguf"]
Layout = Literal["cache", "local-dir"]
FlashAttn = Literal["auto", "on", "off"]
FileStatus = Literal["present", "partial", "missing", "downloaded", "resumed"]

MODES: tuple[Mode, ...] = get_args(Mode)
PREFERENCES: tuple[Preference, ...] = get_args(Preference)
BACKENDS: tuple[Backend, ...] = get_args(Backend)
FAMILIES: tuple[Family, ...] = get_args(Family)
FLASH_ATTN: tuple[FlashAttn, ...] = get_args(FlashAttn)

_State = TypeVar("_State", bound=str)


def choose(value: str, choices: tuple[_State, ...], field: str) -> _State:
    """`value` as one of `choices` (case-insensitive), or InvalidValue naming the setting and the choices."""
    from quantpick.errors import InvalidValue

    for choice in choices:
        if choice == value.lower():
            return choice
    shown = value if len(value) <= 40 else value[:40] + "..."
    raise InvalidValue(field, f"unknown {field} {shown!r}", hint=f"use one of: {', '.join(choices)}")
