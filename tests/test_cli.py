"""The output contract, through typer's runner: one JSON object on stdout, errors as objects, exit codes."""

import json

import pytest

from quantpick.cli.output import Output


@pytest.mark.parametrize("args", [["catalog"], ["probe"], ["recommend", "--vram", "8GiB", "--ram", "16GiB"]])
def test_json_mode_prints_exactly_one_object(cli, args):
    result = cli(*args, "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)  # exactly one document: json.loads rejects trailing data
    assert data["schema_version"] == 1


def test_catalog_json_shape(cli):
    quants = cli("catalog", "--json").json["quants"]
    q4 = next(q for q in quants if q["name"] == "Q4_K_M")
    assert {"name", "family", "bpw", "effective_bpw", "quality", "notes"} <= set(q4)
    assert q4["family"] == "k" and q4["bpw"] == 4.5 and q4["quality"]["kld_llama3_8b"]["source"] == "PPLREADME"


def test_human_output_labels_sizes(cli):
    result = cli("catalog")
    assert result.exit_code == 0 and "Q4_K_M" in result.stdout and "KLD" in result.stderr
    probe = cli("probe")
    assert "GiB" in probe.stdout and "backend" in probe.stdout


def test_usage_errors_exit_2_with_json_error(cli):
    result = cli("probe", "--bogus", "--json")
    assert result.exit_code == 2
    assert result.json == {
        "schema_version": 1,
        "error": {
            "code": "usage",
            "message": result.json["error"]["message"],
            "hint": "see `quantpick probe --help`",
            "details": None,
        },
    }
    message = result.json["error"]["message"]  # click's own wording, which varies by version
    assert "No such option" in message and "--bogus" in message
    assert result.stderr.splitlines() == [f"Error: {message}", "Hint: see `quantpick probe --help`"]
    missing = cli("list", "--json")
    assert missing.exit_code == 2 and "REPO" in missing.json["error"]["message"]


def test_unexpected_errors_exit_1_without_a_traceback(cli, monkeypatch):
    import quantpick.probe as probe

    def broken(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(probe, "probe_hardware", broken)
    result = cli("probe", "--json")
    assert result.exit_code == 1 and result.json["error"]["code"] == "unexpected"
    assert "QUANTPICK_DEBUG" in result.json["error"]["hint"] and "Traceback" not in result.stderr
    monkeypatch.setenv("QUANTPICK_DEBUG", "1")
    with pytest.raises(RuntimeError):
        cli("probe", "--json")


def test_help_version_and_bare_command(cli):
    assert cli("--version").stdout.startswith("quantpick ")
    bare = cli()
    assert bare.exit_code == 0 and "recommend" in bare.stdout
    for command in ("catalog", "probe", "list", "recommend", "get"):
        text = cli(command, "--help").stdout
        assert "Examples:" in text and "quantpick " + command in text


def test_a_token_in_an_error_is_redacted(capsys, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_supersecret_value")
    Output(json_mode=True).error("x", "failed with hf_supersecret_value inside", "hint hf_supersecret_value")
    captured = capsys.readouterr()
    assert "hf_supersecret_value" not in captured.out + captured.err and "<token>" in captured.err


def test_startup_never_imports_the_hub_client():
    import subprocess
    import sys

    code = (
        "import sys; from quantpick.cli.app import app\n"
        "for args in (['--help'], ['probe', '--json'], ['catalog', '--json'], ['recommend', '--json']):\n"
        "    try: app(args=args, prog_name='quantpick')\n"
        "    except SystemExit: pass\n"
        "print('huggingface_hub' in sys.modules, 'rich' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip().splitlines()[-1] == "False False"
