"""The JSON contract: every command's --json document, validated against its published schema.

The schemas require every key and forbid extra ones, so a validation is an exact-key check at every
level. The top-level key sets are also pinned here, so that changing a document is a deliberate act.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from conftest import GiB
from quantpick.documents import DOCUMENTS, json_schema, property_names

README = Path(__file__).resolve().parents[1] / "README.md"

TOP_LEVEL = {
    "probe": {"schema_version", "ram", "gpus", "cpu", "backend", "backend_source", "warnings", "source"},
    "list": {"schema_version", "repo", "revision", "cached", "gated", "quants", "other_files", "model", "model_source"},
    "recommend": {
        "schema_version",
        "repo",
        "revision",
        "hardware",
        "budget",
        "reserve",
        "runner",
        "decision",
        "discovery",
        "cluster",
        "model",
        "model_source",
        "mode",
        "pick",
        "runners_up",
        "candidates",
        "notes",
    },
    "plan": {"schema_version", "hardware", "budget", "ctx", "decision", "best", "sizes", "note"},
    "search": {"schema_version", "query", "cached", "budget", "repos"},
    "get": {
        "schema_version",
        "repo",
        "revision",
        "quant",
        "destination",
        "layout",
        "dry_run",
        "files",
        "model_path",
        "mmproj_path",
        "bytes_to_download",
        "free_bytes",
        "command",
        "transfer",
        "handoff",
        "notes",
    },
    "catalog": {"schema_version", "catalog", "quants", "prefix_variants", "sources", "quality_scales"},
    "error": {"schema_version", "error"},
}


def validate(name: str, document: dict) -> None:
    errors = sorted(Draft202012Validator(json_schema(name)).iter_errors(document), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:5])
    assert set(document) == TOP_LEVEL[name]


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_every_schema_is_valid_and_pins_the_top_level_keys(name):
    schema = json_schema(name)
    Draft202012Validator.check_schema(schema)
    assert set(schema["required"]) == set(schema["properties"]) == TOP_LEVEL[name]
    assert schema["additionalProperties"] is False


def test_probe_catalog_and_plan_documents(cli, hardware_file):
    validate("probe", cli("probe", "--json").json)
    validate("catalog", cli("catalog", "--json").json)
    plan = cli("recommend", "--hardware", hardware_file(ram=16 * GiB, gpus=[8 * GiB]), "--json").json
    validate("plan", plan)
    assert plan["sizes"][0]["speed"]["reasons"][0]["code"] == "estimated_size"


def test_list_and_recommend_documents(cli, hardware_file):
    validate("list", cli("list", "unsloth/Qwen3-30B-A3B-GGUF", "--json").json)
    hw = hardware_file(ram=32 * GiB, gpus=[12 * GiB])
    document = cli("recommend", "bartowski/Qwen_Qwen3-8B-GGUF", "--hardware", hw, "--json").json
    validate("recommend", document)
    assert document["pick"]["command"].startswith("llama-server -hf bartowski/Qwen_Qwen3-8B-GGUF:")
    codes = {r["code"] for c in document["candidates"] for r in c["reasons"]}
    assert {"fits_gpu", "full_precision", "removed_type"} <= codes


def test_get_documents_dry_run_and_done(cli, tmp_path):
    tmp_path = tmp_path / "models"
    args = ("get", "unsloth/Qwen3-30B-A3B-GGUF", "--quant", "UD-IQ2_M", "--mmproj", "F16", "--ram", "4GiB")
    dry = cli(*args, "--dry-run", "--local-dir", str(tmp_path), "--json").json
    validate("get", dry)
    assert dry["mmproj_path"].endswith("mmproj-F16.gguf") and not tmp_path.exists()
    done = cli(*args, "--local-dir", str(tmp_path), "--json").json
    validate("get", done)
    assert "--mmproj" in done["command"] and done["command"].startswith("llama-server -m ")


def test_error_documents(cli, hardware_file):
    usage = cli("probe", "--bogus", "--json")
    assert usage.exit_code == 2
    validate("error", usage.json)
    nothing = cli("recommend", "bartowski/Qwen_Qwen3-8B-GGUF", "--hardware", hardware_file(ram=1 * GiB), "--json")
    assert nothing.exit_code == 3
    validate("error", nothing.json)
    assert nothing.json["error"]["details"]["smallest"] == "IQ2_M"


def test_schema_command_prints_each_schema_and_refuses_unknown_names(cli):
    for name in DOCUMENTS:
        result = cli("schema", name)
        assert result.exit_code == 0 and json.loads(result.stdout) == json_schema(name)
    bad = cli("schema", "bogus", "--json")
    assert bad.exit_code == 2 and bad.json["error"]["code"] == "invalid_value"
    assert "probe" in bad.json["error"]["hint"]


# The README's "JSON:" line of each command, by the heading it sits under.
README_SECTIONS = {
    "probe": "### `quantpick probe`",
    "list": "### `quantpick list REPO`",
    "recommend": "### `quantpick recommend [REPO]`",
    "get": "### `quantpick get REPO`",
    "catalog": "### `quantpick catalog`",
}


def _readme_json(heading: str, which: int = 0) -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split(heading, 1)[1].split("\n### ", 1)[0]
    blocks = re.findall(r"JSON: `(.+?)`", section.replace("\n", " "), flags=re.S)
    # "Without a repo: `{...}`" is the second shape of recommend
    blocks += re.findall(r"Without a repo: `(.+?)`", section.replace("\n", " "), flags=re.S)
    return blocks[which]


@pytest.mark.parametrize(("name", "which"), [*((n, 0) for n in README_SECTIONS), ("plan", 1)])
def test_readme_json_shapes_match_the_schemas(name, which):
    shape = _readme_json(README_SECTIONS.get(name, README_SECTIONS["recommend"]), which)
    # key names, not the enum values written after a colon or between bars ("speed"|"quality")
    named = set(re.findall(r'(?<!: )(?<!\|)"([a-z_0-9]+)"(?!\|)', shape))
    known = property_names(name)
    assert named - known == set(), f"the README names keys {name} does not have"
    assert TOP_LEVEL[name] - named == set(), f"the README misses top-level keys of {name}"
