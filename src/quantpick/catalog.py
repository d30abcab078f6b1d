"""The quant catalog: a strict loader for data/quant_catalog.yaml and the lookups the rules need.

Parsing (`parse_catalog`) is pure; `load_catalog` only decides which file to read.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any, NoReturn, cast

from quantpick.errors import CatalogError
from quantpick.states import BACKENDS, FAMILIES, Family

CATALOG_ENV = "QUANTPICK_CATALOG"
# A catalog `cpu_repack` feature -> the probe's CPU flags that must all be set for llama.cpp to repack
# (ggml-cpu/repack.cpp ggml_repack_get_optimal_repack_type checks AVX2, AVX-512, NEON dotprod and i8mm;
# ggml-cpu/amx needs AMX-INT8 and AVX512-VNNI).
REPACK_FEATURES: dict[str, tuple[str, ...]] = {
    "avx2": ("avx2",),
    "avx512": ("avx512f",),
    "neon_dotprod": ("neon", "dotprod"),
    "neon_i8mm": ("neon", "i8mm"),
    "amx": ("amx", "avx512_vnni"),
}


@dataclass(frozen=True)
class Figure:
    value: float
    source: str
    note: str | None = None


@dataclass(frozen=True)
class Note:
    id: str
    text: str
    source: str


@dataclass(frozen=True)
class QuantType:
    name: str
    family: Family
    bpw_nominal: float
    bpw_effective: float | None
    bpw_source: str
    quality: dict[str, Figure]
    notes: tuple[Note, ...] = ()
    aliases: tuple[str, ...] = ()
    cpu_repack: tuple[str, ...] = ()
    gpu_missing: tuple[str, ...] = ()
    loadable: bool = True
    base: str | None = None  # set for uploader variants (Q4_K_L, UD-Q4_K_XL, UD-IQ2_M)
    description: str | None = None
    variant_source: str | None = None

    @property
    def is_variant(self) -> bool:
        return self.base is not None

    @property
    def level(self) -> int:
        """The bit level people talk about: Q4_K_M and IQ4_XS are 'Q4', Q3_K_L is 'Q3'."""
        return math.floor(self.bpw_nominal)

    @property
    def is_float(self) -> bool:
        return self.family == "float"

    @property
    def is_iquant(self) -> bool:
        return self.family == "i"

    def repacks_on(self, cpu_flags: dict[str, bool]) -> list[str]:
        """The catalog's `cpu_repack` features this CPU has: llama.cpp repacks the type at load time there."""
        return [f for f in self.cpu_repack if all(cpu_flags.get(flag) for flag in REPACK_FEATURES.get(f, ("?",)))]


def variant_of(base: QuantType, name: str, description: str, source: str) -> QuantType:
    """An uploader variant: the base type's figures and notes, its own name; the size comes from the file."""
    return replace(
        base, name=name, aliases=(), bpw_effective=None, base=base.name, description=description, variant_source=source
    )


@dataclass(frozen=True)
class RankFigure:
    """The loss a type is ranked by, and where it came from."""

    loss: float
    scale: str
    source: str
    estimated: bool = False

    @property
    def provenance(self) -> str:
        """The one format of a quality figure's provenance: 'kld_llama3_8b_imatrix 0.0327 (PPLREADME)'."""
        return f"{self.scale} {self.loss:g} ({self.source})"


@dataclass
class Catalog:
    path: str
    sources: dict[str, str]
    scales: dict[str, dict[str, str]]
    ranking: dict[str, str]
    types: dict[str, QuantType]
    prefix_variants: dict[str, tuple[str, str]] = field(default_factory=dict)

    @cached_property
    def _by_upper(self) -> dict[str, QuantType]:
        table: dict[str, QuantType] = {}
        for quant in self.types.values():
            for label in (quant.name, *quant.aliases):
                table[label.upper()] = quant
        return table

    @cached_property
    def _labels(self) -> tuple[str, ...]:
        return tuple(self._by_upper)

    def labels(self) -> tuple[str, ...]:
        """Every label a file name may carry (names and aliases), upper case."""
        return self._labels

    def get(self, label: str) -> QuantType | None:
        """The type for a label as written in a file name ('q4_k_m', 'UD-IQ2_M', 'fp16'), or None."""
        upper = label.upper()
        if upper in self._by_upper:
            return self._by_upper[upper]
        for prefix, (description, source) in self.prefix_variants.items():
            if upper.startswith(prefix.upper()):
                base = self._by_upper.get(upper[len(prefix) :])
                if base is None:
                    return None
                return variant_of(base, prefix + base.name, description, source)
        return None

    def rank_figure(self, quant: QuantType) -> RankFigure:
        """The loss used to rank `quant` (lower is better); variants take their base's figure."""
        base = self.types.get(quant.base, quant) if quant.base else quant
        for key in (self.ranking["prefer_figure"], self.ranking["fallback_figure"]):
            figure = base.quality.get(key)
            if figure is not None:
                return RankFigure(figure.value, key, figure.source)
        if base.is_float:
            return RankFigure(0.0, self.ranking["scale"], "reference weights (no measurable loss)", estimated=True)
        nearest = self._nearest_measured(base.bpw_nominal)
        measured = self.rank_figure(nearest)
        return RankFigure(measured.loss, measured.scale, f"estimated from {nearest.name} (same nominal bpw)", True)

    @cached_property
    def prefixes(self) -> tuple[str, ...]:
        """Uploader prefixes (`prefix_variants`) a label may carry, upper case: 'UD-'."""
        return tuple(prefix.upper() for prefix in self.prefix_variants)

    def _nearest_measured(self, bpw: float) -> QuantType:
        keys = (self.ranking["prefer_figure"], self.ranking["fallback_figure"])
        measured = [q for q in self.types.values() if not q.is_variant and any(k in q.quality for k in keys)]
        measured = [q for q in measured if not q.is_float]
        return min(measured, key=lambda q: (abs(q.bpw_nominal - bpw), q.family != "k"))


# --- loading -------------------------------------------------------------------------------------------


def default_catalog_path() -> Path:
    """The shipped catalog: inside the installed package (wheel), else the source checkout (editable)."""
    packaged = Path(__file__).resolve().parent / "data" / "quant_catalog.yaml"
    if packaged.is_file():
        return packaged
    return Path(__file__).resolve().parents[2] / "data" / "quant_catalog.yaml"


def load_catalog(path: str | os.PathLike[str] | None = None) -> Catalog:
    """Read and validate the catalog at `path`, $QUANTPICK_CATALOG, or the shipped one."""
    chosen = Path(path or os.environ.get(CATALOG_ENV) or default_catalog_path())
    try:
        text = chosen.read_text(encoding="utf-8")
    except OSError as exc:
        hint = f"unset {CATALOG_ENV} to use the shipped catalog" if os.environ.get(CATALOG_ENV) else None
        raise CatalogError(f"cannot read catalog {chosen}: {exc.strerror or exc}", hint=hint) from None
    return parse_catalog(text, source=str(chosen))


def parse_catalog(text: str, *, source: str = "<catalog>") -> Catalog:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        raw = yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise CatalogError(f"catalog {source}: YAML syntax error{where}: {problem}", hint=_HINT) from None
    return _Validator(source).catalog(raw)


_HINT = "fix the file, or unset QUANTPICK_CATALOG to use the shipped catalog"


class _Validator:
    """Checks the raw YAML strictly and builds the model; every error names the file and the entry."""

    TOP = {
        "schema_version",
        "sources",
        "quality_scales",
        "ranking",
        "backend_notes",
        "quants",
        "variants",
        "prefix_variants",
    }
    QUANT = {"name", "family", "aliases", "bpw", "quality", "notes", "cpu_repack", "gpu_missing", "loadable"}
    BPW = {"nominal", "effective", "source"}
    FIGURE = {"value", "source", "note"}
    VARIANT = {"name", "base", "description", "source"}
    PREFIX = {"prefix", "description", "source"}

    def __init__(self, source: str):
        self.source = source

    def fail(self, where: str, message: str) -> NoReturn:
        raise CatalogError(f"catalog {self.source}: {where}: {message}", hint=_HINT)

    def mapping(self, value: object, where: str, allowed: set[str], required: set[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(where, f"expected a mapping, got {type(value).__name__}")
        unknown = sorted(set(value) - allowed, key=str)
        if unknown:
            self.fail(where, f"unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")
        missing = sorted(required - set(value))
        if missing:
            self.fail(where, f"missing field {missing[0]!r}")
        return cast(dict[str, Any], value)

    def string(self, value: object, where: str) -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(where, "expected a non-empty string")
        return value

    def number(self, value: object, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            self.fail(where, f"expected a non-negative number, got {value!r}")
        return float(value)

    def optional_number(self, value: object, where: str) -> float | None:
        return None if value is None else self.number(value, where)

    def source_ref(self, value: object, where: str) -> str:
        text = self.string(value, where)
        keys = [part.split(" ")[0].strip() for part in text.split(";")]
        if not any(key in self.sources for key in keys):
            self.fail(where, f"source {text!r} names no key of 'sources'")
        return text

    def catalog(self, raw: object) -> Catalog:
        top = self.mapping(
            raw, "top level", self.TOP, {"schema_version", "sources", "quality_scales", "ranking", "quants"}
        )
        if top["schema_version"] != 1:
            self.fail("schema_version", f"unsupported version {top['schema_version']!r} (expected 1)")
        if not isinstance(top["sources"], dict) or not top["sources"]:
            self.fail("sources", "expected a non-empty mapping of key: description")
        self.sources = {str(k): self.string(v, f"sources.{k}") for k, v in top["sources"].items()}
        scales: dict[str, dict[str, str]] = {}
        for key, raw_scale in (top["quality_scales"] or {}).items():
            scale = self.mapping(
                raw_scale, f"quality_scales.{key}", {"description", "source"}, {"description", "source"}
            )
            scales[key] = {
                "description": self.string(scale["description"], f"quality_scales.{key}.description"),
                "source": self.source_ref(scale["source"], f"quality_scales.{key}.source"),
            }
        ranking = self.mapping(
            top["ranking"],
            "ranking",
            {"scale", "prefer_figure", "fallback_figure"},
            {"scale", "prefer_figure", "fallback_figure"},
        )
        for key in ranking.values():
            if key not in scales:
                self.fail("ranking", f"{key!r} is not a quality scale")
        notes = {}
        for key, raw_note in (top.get("backend_notes") or {}).items():
            note = self.mapping(raw_note, f"backend_notes.{key}", {"text", "source"}, {"text", "source"})
            notes[key] = Note(
                key,
                self.string(note["text"], f"backend_notes.{key}.text"),
                self.source_ref(note["source"], f"backend_notes.{key}.source"),
            )
        self.notes = notes
        self.scales = scales
        if not isinstance(top["quants"], list) or not top["quants"]:
            self.fail("quants", "expected a non-empty list")
        types: dict[str, QuantType] = {}
        for index, entry in enumerate(top["quants"]):
            quant = self.quant(entry, index)
            if quant.name in types:
                self.fail(f"quant {quant.name!r}", "defined twice")
            types[quant.name] = quant
        for index, entry in enumerate(top.get("variants") or []):
            variant = self.variant(entry, index, types)
            if variant.name in types:
                self.fail(f"variant {variant.name!r}", "name already used")
            types[variant.name] = variant
        prefixes = {}
        for index, raw_entry in enumerate(top.get("prefix_variants") or []):
            where = f"prefix_variants[{index}]"
            entry = self.mapping(raw_entry, where, self.PREFIX, self.PREFIX)
            prefixes[self.string(entry["prefix"], where)] = (
                self.string(entry["description"], f"{where}.description"),
                self.source_ref(entry["source"], f"{where}.source"),
            )
        return Catalog(self.source, self.sources, scales, dict(ranking), types, prefixes)

    def quant(self, raw_entry: object, index: int) -> QuantType:
        name = raw_entry.get("name") if isinstance(raw_entry, dict) else None
        where = f"quant {name!r}" if isinstance(name, str) else f"quants[{index}]"
        entry = self.mapping(raw_entry, where, self.QUANT, {"name", "family", "bpw", "quality"})
        if entry["family"] not in FAMILIES:
            self.fail(where, f"family {entry['family']!r} is not one of {', '.join(FAMILIES)}")
        bpw = self.mapping(entry["bpw"], f"{where}.bpw", self.BPW, self.BPW)
        quality = {}
        for key, raw_figure in (entry["quality"] or {}).items():
            if key not in self.scales:
                self.fail(f"{where}.quality", f"{key!r} is not a quality scale")
            figure = self.mapping(raw_figure, f"{where}.quality.{key}", self.FIGURE, {"value", "source"})
            quality[key] = Figure(
                self.number(figure["value"], f"{where}.quality.{key}.value"),
                self.source_ref(figure["source"], f"{where}.quality.{key}.source"),
                figure.get("note"),
            )
        notes = []
        for note_id in entry.get("notes") or []:
            if note_id not in self.notes:
                self.fail(f"{where}.notes", f"{note_id!r} is not a key of backend_notes")
            notes.append(self.notes[note_id])
        repack = tuple(entry.get("cpu_repack") or ())
        for feature in repack:
            if feature not in REPACK_FEATURES:
                self.fail(f"{where}.cpu_repack", f"{feature!r} is not one of {', '.join(REPACK_FEATURES)}")
        missing = tuple(entry.get("gpu_missing") or ())
        for backend in missing:
            if backend not in BACKENDS:
                self.fail(f"{where}.gpu_missing", f"{backend!r} is not one of {', '.join(BACKENDS)}")
        loadable = entry.get("loadable", True)
        if not isinstance(loadable, bool):
            self.fail(f"{where}.loadable", "expected true or false")
        aliases = entry.get("aliases") or []
        if not isinstance(aliases, list):
            self.fail(f"{where}.aliases", "expected a list")
        return QuantType(
            name=self.string(entry["name"], f"{where}.name"),
            family=entry["family"],
            bpw_nominal=self.number(bpw["nominal"], f"{where}.bpw.nominal"),
            bpw_effective=self.optional_number(bpw["effective"], f"{where}.bpw.effective"),
            bpw_source=self.source_ref(bpw["source"], f"{where}.bpw.source"),
            quality=quality,
            notes=tuple(notes),
            aliases=tuple(self.string(a, f"{where}.aliases") for a in aliases),
            cpu_repack=repack,
            gpu_missing=missing,
            loadable=loadable,
        )

    def variant(self, raw_entry: object, index: int, types: dict[str, QuantType]) -> QuantType:
        name = raw_entry.get("name") if isinstance(raw_entry, dict) else None
        where = f"variant {name!r}" if isinstance(name, str) else f"variants[{index}]"
        entry = self.mapping(raw_entry, where, self.VARIANT, self.VARIANT)
        base = types.get(entry["base"])
        if base is None:
            self.fail(where, f"base {entry['base']!r} is not a quant of this catalog")
        return variant_of(
            base,
            self.string(entry["name"], f"{where}.name"),
            self.string(entry["description"], f"{where}.description"),
            self.source_ref(entry["source"], f"{where}.source"),
        )
