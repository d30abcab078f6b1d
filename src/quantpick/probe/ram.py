"""System RAM, clamped to the container's cgroup limit (psutil ignores cgroups)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from quantpick.hardware import Ram
from quantpick.probe._files import read_text

V1_UNLIMITED = 1 << 60  # v1 reports "unlimited" as 9223372036854771712 (PAGE_COUNTER_MAX x 4096)


def _read_int(path: Path) -> int | None:
    text = read_text(path)
    if text is None or text == "max":
        return None
    try:
        value = int(text)
    except ValueError:
        return None
    return None if value >= V1_UNLIMITED else value


def read_meminfo(root: Path) -> tuple[int, int] | None:
    """(MemTotal, MemAvailable) in bytes from <root>/proc/meminfo."""
    text = read_text(root / "proc" / "meminfo")
    if not text:
        return None
    fields = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            fields[name] = int(parts[0]) * (1024 if len(parts) > 1 and parts[1] == "kB" else 1)
    if "MemTotal" not in fields:
        return None
    available = fields.get("MemAvailable") or fields.get("MemFree", 0) + fields.get("Cached", 0)
    return fields["MemTotal"], min(available, fields["MemTotal"])


def _mounts(root: Path) -> list[tuple[str, str, str, str]]:
    """(fstype, mount root, mount point, super options) for cgroup mounts in mountinfo."""
    text = read_text(root / "proc" / "self" / "mountinfo") or ""
    mounts = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 1:
            continue
        fstype = tail[0]
        if fstype in ("cgroup", "cgroup2"):
            mounts.append((fstype, fields[3], fields[4], tail[2] if len(tail) > 2 else ""))
    return mounts


def _cgroup_dir(root: Path, mount_root: str, mount_point: str, cgroup_path: str) -> tuple[Path, Path]:
    base = root / mount_point.lstrip("/")
    rel = cgroup_path
    if mount_root != "/" and (cgroup_path == mount_root or cgroup_path.startswith(mount_root + "/")):
        rel = cgroup_path[len(mount_root) :]
    directory = base / rel.lstrip("/")
    return (directory if directory.is_dir() else base), base


def _walk_up(directory: Path, top: Path) -> Iterator[Path]:
    current = directory
    while True:
        yield current
        if current == top or top not in current.parents:
            return
        current = current.parent


def read_cgroup_limit(root: Path, leaves: list[tuple[str, Path]] | None = None) -> tuple[int | None, str | None]:
    """The memory limit of this process's cgroup (min over its ancestors) and the file that set it.

    `leaves`, when given, receives (cgroup version, directory) of this process's own cgroups."""
    leaves = [] if leaves is None else leaves
    text = read_text(root / "proc" / "self" / "cgroup") or ""
    v2_path, v1_path = None, None
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, controllers, path = parts
        if hierarchy == "0" and controllers == "":
            v2_path = path
        elif "memory" in controllers.split(","):
            v1_path = path
    mounts = _mounts(root)
    best: tuple[int | None, str | None] = (None, None)

    def consider(value: int | None, where: Path) -> None:
        nonlocal best
        if value is not None and (best[0] is None or value < best[0]):
            best = (value, "/" + str(where.relative_to(root)) if where.is_relative_to(root) else str(where))

    for fstype, mount_root, mount_point, options in mounts:
        if fstype == "cgroup2" and v2_path is not None:
            directory, top = _cgroup_dir(root, mount_root, mount_point, v2_path)
            leaves.append(("v2", directory))
            for level in _walk_up(directory, top):
                for name in ("memory.max", "memory.high"):
                    consider(_read_int(level / name), level / name)
        elif fstype == "cgroup" and v1_path is not None and "memory" in options.split(","):
            directory, top = _cgroup_dir(root, mount_root, mount_point, v1_path)
            leaves.append(("v1", directory))
            for level in _walk_up(directory, top):
                consider(_read_int(level / "memory.limit_in_bytes"), level / "memory.limit_in_bytes")
    return best


def _stat_value(path: Path, key: str) -> int:
    for line in (read_text(path) or "").splitlines():
        name, _, value = line.partition(" ")
        if name == key and value.strip().isdigit():
            return int(value)
    return 0


def read_cgroup_working_set(leaves: list[tuple[str, Path]]) -> int | None:
    """Memory the cgroup really uses: usage minus reclaimable page cache (kubelet's working set)."""
    for version, directory in leaves:
        if version == "v2":
            usage, inactive = (
                _read_int(directory / "memory.current"),
                _stat_value(directory / "memory.stat", "inactive_file"),
            )
        else:
            usage = _read_int(directory / "memory.usage_in_bytes")
            inactive = _stat_value(directory / "memory.stat", "total_inactive_file")
        if usage is not None:
            return max(usage - inactive, 0)
    return None


def probe_ram(root: Path, warnings: list[str], *, system: str = "Linux") -> Ram:
    meminfo = read_meminfo(root) if system == "Linux" else None
    if meminfo is None:
        import psutil

        memory = psutil.virtual_memory()
        total, available, source = int(memory.total), int(memory.available), "psutil"
    else:
        total, available, source = meminfo[0], meminfo[1], "/proc/meminfo"
    limit: int | None = None
    where: str | None = None
    leaves: list[tuple[str, Path]] = []
    if system == "Linux":
        try:
            limit, where = read_cgroup_limit(root, leaves)
        except OSError as exc:  # a probe never fails the command
            warnings.append(f"could not read the cgroup memory limit: {exc}")
    if limit is not None and limit < total:
        working_set = read_cgroup_working_set(leaves)
        in_cgroup = limit - working_set if working_set is not None else limit
        return Ram(
            limit,
            max(min(available, in_cgroup), 0),
            f"cgroup {where}",
            host_total_bytes=total,
            cgroup_limit_bytes=limit,
        )
    return Ram(total, available, source, host_total_bytes=total, cgroup_limit_bytes=limit)
