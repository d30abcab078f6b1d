from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantpick.catalog import load_catalog
from quantpick.naming import RepoFile, classify_other, parse_repo_files

CATALOG = load_catalog()


def parse(*paths, size=100):
    return parse_repo_files([RepoFile(p, size) for p in paths], CATALOG)


@pytest.mark.parametrize(
    ("path", "label"),
    [
        # bartowski, with and without the org prefix, _L/_XL variants, old f32/fp16 labels
        ("Qwen2.5-7B-Instruct-Q4_K_M.gguf", "Q4_K_M"),
        ("Qwen_Qwen3-8B-Q4_K_M.gguf", "Q4_K_M"),
        ("Qwen2.5-7B-Instruct-Q6_K_L.gguf", "Q6_K_L"),
        ("granite-3.1-2b-instruct-Q2_K_L.gguf", "Q2_K_L"),
        ("granite-3.0-8b-instruct-Q3_K_XL.gguf", "Q3_K_XL"),
        ("Qwen2.5-3B-Instruct-f32.gguf", "F32"),
        ("Qwen1.5-32B-Chat-fp16.gguf", "F16"),
        ("Codestral-22B-v0.1-Q4_0_4_4.gguf", "Q4_0_4_4"),
        ("Meta-Llama-3.1-8B-Instruct-IQ4_XS.gguf", "IQ4_XS"),
        # unsloth
        ("gemma-3-1b-it-UD-Q4_K_XL.gguf", "UD-Q4_K_XL"),
        ("gemma-3-1b-it-UD-IQ1_S.gguf", "UD-IQ1_S"),
        ("gemma-3-1b-it-BF16.gguf", "BF16"),
        ("gemma-2-2b-it.q4_k_m.gguf", "Q4_K_M"),
        ("unsloth.Q4_K_M.gguf", "Q4_K_M"),
        # mradermacher
        ("QwQ-32B.Q4_K_M.gguf", "Q4_K_M"),
        ("gemma-7b.i1-IQ3_M.gguf", "IQ3_M"),
        ("gpt2.i1-Q4_K_S.gguf", "Q4_K_S"),
        # TheBloke
        ("barcenas-mistral-7b.Q8_0.gguf", "Q8_0"),
        ("model_007-70b.Q4_K_M.gguf", "Q4_K_M"),
        # GGUF-my-repo and Qwen (lowercase)
        ("meta-llama-3.1-8b-instruct-q4_k_m.gguf", "Q4_K_M"),
        ("qwen2-7b-instruct-fp16.gguf", "F16"),
        ("qwen2.5-7b-instruct-q3_k_m.gguf", "Q3_K_M"),
        # ggml-org, gpt-oss
        ("gemma-3-4b-it-f16.gguf", "F16"),
        ("gpt-oss-20b-MXFP4.gguf", "MXFP4"),
        ("Qwable-v1-35B-A3B-MXFP4_MOE.gguf", "MXFP4"),
        ("Codestral-22B-v0.1-F32-Q2_K.gguf", "Q2_K"),  # the last label wins
        ("model-Q4_K.gguf", "Q4_K_M"),  # llama-quantize's alias
    ],
)
def test_single_file_labels(path, label):
    parsed = parse(path)
    assert [g.label for g in parsed.quants] == [label]
    assert parsed.quants[0].known and parsed.quants[0].complete and not parsed.other_files


def test_mradermacher_i1_prefix_is_kept_as_a_flag():
    assert parse("gemma-7b.i1-IQ3_M.gguf").quants[0].imatrix_marker


@pytest.mark.parametrize(
    ("paths", "label", "complete"),
    [
        (
            ["Org_Model-Q8_0/Org_Model-Q8_0-00001-of-00002.gguf", "Org_Model-Q8_0/Org_Model-Q8_0-00002-of-00002.gguf"],
            "Q8_0",
            True,
        ),
        (
            [
                "Qwen2-72B-Instruct-Q8_0.gguf/Qwen2-72B-Instruct-Q8_0-00001-of-00002.gguf",
                "Qwen2-72B-Instruct-Q8_0.gguf/Qwen2-72B-Instruct-Q8_0-00002-of-00002.gguf",
            ],
            "Q8_0",
            True,
        ),
        (
            [
                "UD-IQ2_XXS/GLM-4.6-UD-IQ2_XXS-00001-of-00003.gguf",
                "UD-IQ2_XXS/GLM-4.6-UD-IQ2_XXS-00002-of-00003.gguf",
                "UD-IQ2_XXS/GLM-4.6-UD-IQ2_XXS-00003-of-00003.gguf",
            ],
            "UD-IQ2_XXS",
            True,
        ),
        (
            ["BF16/gemma-3-27b-it-BF16-00001-of-00002.gguf", "BF16/gemma-3-27b-it-BF16-00002-of-00002.gguf"],
            "BF16",
            True,
        ),
        (
            ["qwen2.5-7b-instruct-q8_0-00001-of-00003.gguf", "qwen2.5-7b-instruct-q8_0-00002-of-00003.gguf"],
            "Q8_0",
            False,
        ),
        (["Q8_0/model-00002-of-00002.gguf", "Q8_0/model-00001-of-00002.gguf"], "Q8_0", True),
    ],
)
def test_split_sets_become_one_quant(paths, label, complete):
    parsed = parse(*paths)
    assert len(parsed.quants) == 1
    group = parsed.quants[0]
    assert group.label == label and group.complete is complete and group.split_style == "gguf-split"
    assert group.size_bytes == 100 * len(paths)
    assert "00001-of" in group.first_file.path


def test_old_style_parts_need_concatenation():
    parsed = parse(
        "Qwen2.5-72B-Instruct.Q5_K_M.gguf.part2of2",
        "Qwen2.5-72B-Instruct.Q5_K_M.gguf.part1of2",
        "lemur-70b-chat-v1.Q6_K.gguf-split-a",
        "lemur-70b-chat-v1.Q6_K.gguf-split-b",
    )
    groups = {g.label: g for g in parsed.quants}
    assert groups["Q5_K_M"].split_style == "concat" and groups["Q5_K_M"].complete
    assert groups["Q5_K_M"].first_file.path.endswith("part1of2")
    assert groups["Q6_K"].split_style == "concat" and len(groups["Q6_K"].files) == 2
    assert not parse("big.Q6_K.gguf.part1of3", "big.Q6_K.gguf.part2of3").quants[0].complete


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("mmproj-F16.gguf", "mmproj"),
        ("mmproj-model-f16.gguf", "mmproj"),
        ("mmproj-mistralai_Mistral-Small-3.1-24B-Instruct-2503-f16.gguf", "mmproj"),
        ("gemma-3-4b-it.BF16-mmproj.gguf", "mmproj"),
        ("Qwen2-VL-7B-mmproj-q5_1.gguf", "mmproj"),
        ("Qwen2.5-3B-Instruct.imatrix", "imatrix"),
        ("imatrix.dat", "imatrix"),
        ("imatrix_unsloth.dat", "imatrix"),
        ("imatrix-Model-Q8_0.gguf", "imatrix"),
        ("mtp-Model-Q8_0.gguf", "drafter"),
        ("Model-draft-Q4_K_M.gguf", "drafter"),
        ("README.md", "non-gguf"),
        ("config.json", "non-gguf"),
        ("model.safetensors", "non-gguf"),
    ],
)
def test_other_files_are_never_quants(path, kind):
    parsed = parse(path)
    assert parsed.quants == []
    assert [(o.path, o.kind) for o in parsed.other_files] == [(path, kind)]


def test_unknown_labels_are_kept_not_guessed():
    parsed = parse("Model-IQ4_KS.gguf", "Model-Q8_0_L.gguf", "weird-name.gguf")
    labels = {g.label: g for g in parsed.quants}
    assert set(labels) == {"IQ4_KS", "Q8_0_L", "weird-name"}
    assert not any(g.known for g in parsed.quants)


def test_same_label_in_two_layouts_stays_two_entries():
    parsed = parse("a/Model-Q4_K_M.gguf", "b/Model-Q4_K_M.gguf")
    assert len(parsed.quants) == 2


# --- properties ----------------------------------------------------------------------------------------

LABELS = ["Q4_K_M", "q4_k_m", "Q8_0", "UD-Q4_K_XL", "IQ2_M", "F16", "bf16", "Q6_K_L", "mmproj-F16", "weird", "Q3_K_S"]
name_part = st.text(alphabet="abcXYZ019-_.", min_size=0, max_size=8)


@st.composite
def repo_paths(draw):
    paths = set()
    for _ in range(draw(st.integers(1, 12))):
        stem = draw(name_part) + "-" + draw(st.sampled_from(LABELS))
        folder = draw(st.sampled_from(["", "sub/", "Q8_0/", "UD-IQ2_M/"]))
        style = draw(st.sampled_from(["single", "split", "part", "imatrix", "other"]))
        if style == "single":
            paths.add(f"{folder}{stem}.gguf")
        elif style == "split":
            total = draw(st.integers(1, 4))
            for n in draw(st.sets(st.integers(1, total), min_size=1)):
                paths.add(f"{folder}{stem}-{n:05d}-of-{total:05d}.gguf")
        elif style == "part":
            paths.add(f"{folder}{stem}.gguf.part{draw(st.integers(1, 3))}of3")
        elif style == "imatrix":
            paths.add(f"{folder}{stem}.imatrix")
        else:
            paths.add(f"{folder}{stem}.{draw(st.sampled_from(['json', 'md', 'txt']))}")
    return sorted(paths)


@settings(max_examples=300, deadline=None)
@given(repo_paths())
def test_every_path_lands_exactly_once_and_shards_never_mix(paths):
    parsed = parse(*paths)
    in_quants = [f.path for g in parsed.quants for f in g.files]
    in_others = [o.path for o in parsed.other_files]
    assert sorted(in_quants + in_others) == sorted(paths)  # nothing lost, nothing counted twice
    assert not set(in_quants) & set(in_others)
    for group in parsed.quants:
        folders = {f.path.rpartition("/")[0] for f in group.files}
        prefixes = {f.path.rpartition("/")[2].split("-0000")[0].split(".gguf")[0].lower() for f in group.files}
        assert len(folders) == 1 and len(prefixes) == 1  # one quant's shards share folder and prefix
        assert group.size_bytes == 100 * len(group.files)
    for other in parsed.other_files:
        assert classify_other(other.path.rpartition("/")[2]) == other.kind


def test_a_new_prefix_variant_in_a_user_catalog_needs_no_code_change(cli, hub, tmp_path, monkeypatch):
    shipped = (Path(__file__).resolve().parents[1] / "data" / "quant_catalog.yaml").read_text()
    extra = '  - {prefix: "XQ-", description: "an uploader mix around the base type", source: UNSLOTH}\n'
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(shipped.rstrip("\n") + "\n" + extra)
    monkeypatch.setenv("QUANTPICK_CATALOG", str(catalog))
    hub.add_repo("test/Prefix-GGUF", {"Model-XQ-Q4_K_M.gguf": b"GGUF" + b"\0" * 100, "Model-Q4_K_M.gguf": b"x" * 90})
    quants = {q["quant"]: q for q in cli("list", "test/Prefix-GGUF", "--json").json["quants"]}
    assert quants["XQ-Q4_K_M"]["variant_of"] == "Q4_K_M" and quants["XQ-Q4_K_M"]["known"]
    assert quants["Q4_K_M"]["variant_of"] is None
    monkeypatch.delenv("QUANTPICK_CATALOG")
    unknown = {q["quant"]: q for q in cli("list", "test/Prefix-GGUF", "--json").json["quants"]}
    assert "XQ-Q4_K_M" not in unknown  # the shipped catalog knows no XQ- prefix: it is plain Q4_K_M there
