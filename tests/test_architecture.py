"""The layout's promises, checked on the source: command modules stay thin and never import each other."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "quantpick"
CORE = (
    *("catalog", "naming", "gguf", "memory", "rules", "hardware", "sizes", "errors", "states"),
    *("documents", "commands"),
)
# What a command module may import from quantpick: the service, the documents, and the CLI's shared parts.
COMMAND_IMPORTS = {"quantpick", "quantpick.service", "quantpick.documents", "quantpick.errors"}
CLI_SHARED = {"quantpick.cli.output", "quantpick.cli.options", "quantpick.cli.chart"}  # shared, not commands


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names if node.module == "quantpick")
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("quantpick")}


def is_type_only(path: Path, module: str) -> bool:
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        guard = isinstance(node, ast.If) and "TYPE_CHECKING" in (
            getattr(node.test, "id", ""),
            getattr(node.test, "attr", ""),
        )
        if guard and any(isinstance(n, ast.ImportFrom) and n.module == module for n in ast.walk(node)):
            return True
    return False


def test_command_modules_import_only_the_service_and_the_shared_cli_parts():
    for path in sorted((SRC / "cli").glob("*_cmd.py")):
        used = {m for m in imports(path) if not is_type_only(path, m)}
        allowed = COMMAND_IMPORTS | CLI_SHARED | {"quantpick.service", "quantpick.errors"}
        assert used <= allowed | {"quantpick.quantpick.service"}, f"{path.name} imports {sorted(used - allowed)}"
        others = {m for m in imports(path) if m.endswith("_cmd")}
        assert not others, f"{path.name} imports another command: {others}"


def test_the_core_does_no_io_and_never_imports_an_adapter():
    adapters = ("quantpick.hub", "quantpick.download", "quantpick.probe", "quantpick.cli", "quantpick.service")
    for name in CORE:
        path = SRC / f"{name}.py"
        used = {m for m in imports(path) if not is_type_only(path, m)}
        assert not {m for m in used if m.startswith(adapters)}, f"{name}.py imports an adapter"
        source = path.read_text()
        assert "open(" not in source and "huggingface_hub" not in source, f"{name}.py does I/O"


def test_no_flag_names_in_core_error_messages():
    for name in CORE:
        tree = ast.parse((SRC / f"{name}.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args:
                for constant in ast.walk(node.exc.args[-1]):
                    if isinstance(constant, ast.Constant) and isinstance(constant.value, str):
                        assert " --" not in f" {constant.value}", f"{name}.py raises with a flag: {constant.value!r}"


def test_recommend_and_get_take_the_planning_flags_declared_once() -> None:
    import dataclasses
    import inspect

    from quantpick.cli.get_cmd import get_command
    from quantpick.cli.options import PlanFlags
    from quantpick.cli.recommend_cmd import recommend_command

    fields = {f.name for f in dataclasses.fields(PlanFlags)}
    for command in (recommend_command, get_command):
        parameters = inspect.signature(command).parameters
        assert fields <= set(parameters), command.__name__
        assert not any(p.annotation is PlanFlags for p in parameters.values())  # typer never sees the bundle
        assert all(parameters[name].default == getattr(PlanFlags(), name) for name in fields)


def test_the_planning_flags_reach_the_command_as_one_value(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from quantpick.cli import recommend_cmd
    from quantpick.cli.app import app
    from quantpick.cli.options import PlanFlags

    seen: list[PlanFlags] = []

    def capture(self: PlanFlags, quant: str | None) -> None:
        seen.append(self)
        raise SystemExit(0)

    monkeypatch.setattr(recommend_cmd.PlanFlags, "options", capture)
    result = CliRunner().invoke(app, ["recommend", "--min-speed", "12", "-np", "2", "--ram", "8GiB", "--vram", "0"])
    assert result.exit_code == 0, result.output
    assert seen == [PlanFlags(min_speed=12.0, parallel=2, ram="8GiB", vram="0")]
