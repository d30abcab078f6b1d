"""`recommend --chart`: the candidates drawn in plain text (no colour needed, safe to pipe). Pure functions.

Two pictures: each quant's memory against the GPU and GPU + RAM budgets, and quality loss against estimated
tokens/s with the pick marked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

WIDTH = 48
HEIGHT = 12


@dataclass(frozen=True)
class Point:
    label: str
    total_bytes: int
    tokens_per_second: float | None
    loss: float | None
    fits: bool
    pick: bool


def _gib(num_bytes: float) -> str:
    from quantpick.sizes import format_size

    return format_size(num_bytes)


def memory_chart(points: list[Point], gpu_bytes: int | None, quality_bytes: int) -> list[str]:
    """One bar per quant, its total memory; `|` marks the GPU budget, `#` the GPU + RAM budget."""
    scale = max([quality_bytes, *(p.total_bytes for p in points)]) or 1

    def column(num_bytes: float) -> int:
        return min(int(num_bytes / scale * WIDTH), WIDTH)

    marks = {column(quality_bytes): "#"}
    if gpu_bytes:
        marks[column(gpu_bytes)] = "|"
    name_width = max([len(p.label) for p in points] + [4])
    header = " " * (name_width + 2) + "".join(marks.get(i, " ") for i in range(WIDTH + 1))
    lines = [
        "memory (file + reserve)"
        + (f"   | GPU {_gib(gpu_bytes)}" if gpu_bytes else "")
        + f"   # {'GPU + RAM' if gpu_bytes else 'RAM'} {_gib(quality_bytes)}",
        header,
    ]
    for point in sorted(points, key=lambda p: p.total_bytes):
        length = column(point.total_bytes)
        bar = "".join("=" if i < length else marks.get(i, " ") for i in range(WIDTH + 1))
        flag = " <- pick" if point.pick else ("" if point.fits else "  (too large)")
        lines.append(f"{point.label.ljust(name_width)}  {bar} {_gib(point.total_bytes)}{flag}")
    return lines


def tradeoff_chart(points: list[Point]) -> list[str]:
    """Quality loss (KLD, log scale, lower is better) against estimated tokens/s; `*` is the pick."""
    known = [p for p in points if p.fits and p.tokens_per_second and p.loss and p.loss > 0]
    if len(known) < 2:
        return ["(fewer than two candidates with a speed and a measured loss: no trade-off to draw)"]
    speeds = [p.tokens_per_second or 0.0 for p in known]
    losses = [math.log10(p.loss or 1e-9) for p in known]
    low_s, high_s = min(speeds), max(speeds)
    low_l, high_l = min(losses), max(losses)
    grid = [[" "] * (WIDTH + 1) for _ in range(HEIGHT + 1)]
    legend = []
    for index, point in enumerate(sorted(known, key=lambda p: p.tokens_per_second or 0.0)):
        x = int(((point.tokens_per_second or 0.0) - low_s) / ((high_s - low_s) or 1) * WIDTH)
        y = int((math.log10(point.loss or 1e-9) - low_l) / ((high_l - low_l) or 1) * HEIGHT)
        mark = "*" if point.pick else chr(ord("a") + index % 26)
        grid[HEIGHT - y][x] = mark
        legend.append(f"{mark} {point.label}: ~{point.tokens_per_second:.0f} tok/s, KLD {point.loss:.3g}")
    lines = [f"quality loss (KLD, log scale: top {10**high_l:.2g}, bottom {10**low_l:.2g}) against tokens/s"]
    lines += ["  |" + "".join(row) for row in grid]
    lines.append("  +" + "-" * (WIDTH + 1))
    lines.append(f"   {low_s:.0f} tok/s".ljust(WIDTH - 4) + f"{high_s:.0f} tok/s")
    return lines + legend
