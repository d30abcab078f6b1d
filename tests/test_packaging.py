"""The dependency floors are honest: constraints/lowest.txt pins exactly the floors pyproject.toml declares."""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _floors() -> dict[str, str]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    floors = {}
    for requirement in project["dependencies"]:
        match = re.match(r"^([A-Za-z0-9_.\-]+)\s*>=\s*([0-9.]+)", requirement)
        assert match, f"{requirement!r} has no floor"
        floors[match.group(1).lower().replace("_", "-")] = match.group(2)
    return floors


def test_lowest_constraints_pin_the_floors():
    pins = {}
    for line in (ROOT / "constraints" / "lowest.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[name.strip().lower().replace("_", "-")] = version.strip()
    assert pins == _floors()


def test_every_third_party_import_is_declared():
    declared = set(_floors()) | {"pynvml"}  # pynvml is nvidia-ml-py's module
    modules = {"huggingface_hub": "huggingface-hub", "yaml": "pyyaml", "pynvml": "pynvml"}
    for path in (ROOT / "src" / "quantpick").rglob("*.py"):
        for name in re.findall(r"^\s*(?:import|from)\s+([a-z_0-9]+)", path.read_text(), flags=re.M):
            if name in sys.stdlib_module_names or name in ("quantpick", "__future__"):
                continue
            assert modules.get(name, name) in declared, f"{path.name} imports {name}, which is not declared"
