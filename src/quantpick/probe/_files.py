"""Reading small kernel files (procfs, sysfs, cgroupfs) that may be missing or unreadable."""

from __future__ import annotations

from pathlib import Path


def read_text(path: Path) -> str | None:
    """The stripped content, or None when the file cannot be read."""
    try:
        return path.read_text().strip()
    except OSError:
        return None
