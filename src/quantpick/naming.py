"""Turn a repo's file paths into quants: which files make up which quant, and what everything else is.

Pure: paths in, groups out. Rules follow the naming habits of the big uploaders (bartowski, unsloth,
mradermacher, TheBloke, GGUF-my-repo, Qwen) and llama.cpp's gguf-split convention.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from quantpick.catalog import Catalog, QuantType
from quantpick.states import OtherKind, SplitStyle


@dataclass(frozen=True)
class RepoFile:
    path: str
    size_bytes: int
    sha256: str | None = None


@dataclass
class QuantGroup:
    """One downloadable quant: a single file or a split set."""

    label: str  # as the catalog spells it (Q4_K_M, UD-Q4_K_XL), or as found when unknown
    quant: QuantType | None
    files: list[RepoFile]
    shard_total: int = 1
    split_style: SplitStyle | None = None  # "gguf-split": load the first shard; "concat": cat the parts first
    imatrix_marker: bool = False  # mradermacher's "i1-"

    @property
    def size_bytes(self) -> int:
        return sum(f.size_bytes for f in self.files)

    @property
    def complete(self) -> bool:
        return len(self.files) == self.shard_total

    @property
    def known(self) -> bool:
        return self.quant is not None

    @property
    def first_file(self) -> RepoFile:
        return self.files[0]


@dataclass
class OtherFile:
    path: str
    kind: OtherKind
    size_bytes: int
    sha256: str | None = None


@dataclass
class ParsedRepo:
    quants: list[QuantGroup] = field(default_factory=list)
    other_files: list[OtherFile] = field(default_factory=list)


_GGUF_SPLIT = re.compile(r"^(?P<prefix>.+?)-(?P<no>\d{5})-of-(?P<total>\d{5})\.gguf$", re.IGNORECASE)
_PART_SPLIT = re.compile(r"^(?P<prefix>.+?\.gguf)\.part(?P<no>\d+)of(?P<total>\d+)$", re.IGNORECASE)
_LETTER_SPLIT = re.compile(r"^(?P<prefix>.+?\.gguf)-split-(?P<no>[a-z]+)$", re.IGNORECASE)
_DRAFTER = re.compile(r"(^|[-_.])(mtp|draft|drafter|dflash)([-_.]|$)", re.IGNORECASE)
# Labels a catalog may not know yet: ik_llama.cpp types (IQ4_KS, IQ2_K_R4), odd experiments (Q8_0_L, Q3_K_XS).
_UNKNOWN_TYPE = r"I?Q\d(?:_[A-Z0-9]+)+|IQ\d_[A-Z]+\d*|TQ\d_\d|MXFP\d\w*|NVFP\d"


def _prefix_group(prefixes: tuple[str, ...]) -> str:
    """An optional regex group for the catalog's uploader prefixes ('UD-'), longest first."""
    if not prefixes:
        return ""
    return "(?:" + "|".join(re.escape(p) for p in sorted(prefixes, key=len, reverse=True)) + ")?"


def classify_other(basename: str) -> OtherKind | None:
    """The kind of a file that is never a quant, or None for a model file."""
    lower = basename.lower()
    if "mmproj" in lower:
        return "mmproj"
    if lower.endswith(".imatrix") or "imatrix" in lower and lower.endswith((".dat", ".gguf")):
        return "imatrix"
    is_gguf = lower.endswith(".gguf") or _PART_SPLIT.match(basename) or _LETTER_SPLIT.match(basename)
    if not is_gguf:
        return "non-gguf"
    stem = lower.split(".gguf")[0]
    if _DRAFTER.search(stem):
        return "drafter"
    return None


@lru_cache(maxsize=8)
def _label_regex(labels: tuple[str, ...], prefixes: tuple[str, ...]) -> re.Pattern[str]:
    # the catalog hands out the same tuples every call: a cheap cache key
    alternation = "|".join(re.escape(label) for label in sorted(labels, key=len, reverse=True))
    # Labels contain '_', so it may open a label ('model_Q4_K_M') but never close one ('Q4_K' in 'Q4_K_XL').
    return re.compile(rf"(?:^|[-._/ ])({_prefix_group(prefixes)}(?:{alternation}))(?=$|[-. ])")


@lru_cache(maxsize=8)
def _unknown_regex(prefixes: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(rf"(?:^|[-._])({_prefix_group(prefixes)}(?:{_UNKNOWN_TYPE}))(?=$|[-.])")


def find_label(text: str, catalog: Catalog) -> tuple[str, QuantType | None] | None:
    """The last quant label in `text` (a file stem or folder name): (label, type) or (label, None) if unknown."""
    upper = text.upper()
    known = _label_regex(catalog.labels(), catalog.prefixes)
    matches = [m for m in (known.finditer(upper)) if catalog.get(m.group(1))]
    # Overlapping candidates: 'Q4_K_M' inside 'UD-Q4_K_XL' cannot match thanks to the boundaries; take the last.
    if matches:
        label = matches[-1].group(1)
        quant = catalog.get(label)
        return (quant.name if quant else label), quant
    unknown = list(_unknown_regex(catalog.prefixes).finditer(upper))
    if unknown:
        return unknown[-1].group(1), None
    return None


def parse_repo_files(files: list[RepoFile], catalog: Catalog) -> ParsedRepo:
    """Group files into quants (shards summed) and everything else, never losing a file."""
    result = ParsedRepo()
    groups: dict[tuple[str, str], QuantGroup] = {}
    shard_numbers: dict[tuple[str, str], list[int]] = {}
    for repo_file in sorted(files, key=lambda f: f.path):
        directory, _, basename = repo_file.path.rpartition("/")
        kind = classify_other(basename)
        if kind is not None:
            result.other_files.append(OtherFile(repo_file.path, kind, repo_file.size_bytes, repo_file.sha256))
            continue
        split_style: SplitStyle | None = None
        shard_no, total, stem = 1, 1, basename
        patterns: tuple[tuple[SplitStyle, re.Pattern[str]], ...] = (
            ("gguf-split", _GGUF_SPLIT),
            ("concat", _PART_SPLIT),
            ("concat", _LETTER_SPLIT),
        )
        for style, pattern in patterns:
            match = pattern.match(basename)
            if match:
                split_style, stem = style, match.group("prefix")
                number = match.group("no")
                shard_no = int(number) if number.isdigit() else _letters_to_number(number)
                total = int(match.group("total")) if "total" in match.groupdict() else 0
                break
        stem = re.sub(r"\.gguf$", "", stem, flags=re.IGNORECASE)
        found = find_label(stem, catalog)
        if found is None and directory:
            # Folder-per-quant layouts with neutral shard names: 'Q8_0/model-00001-of-00002.gguf', 'BF16/…'.
            found = find_label(directory.rpartition("/")[2].removesuffix(".gguf"), catalog)
        label, quant = found if found else (stem, None)
        key = (directory, stem) if split_style else (directory, basename)
        group = groups.get(key)
        if group is None:
            group = QuantGroup(label, quant, [], split_style=split_style, imatrix_marker=".I1-" in stem.upper())
            groups[key] = group
            shard_numbers[key] = []
        group.files.append(repo_file)
        shard_numbers[key].append(shard_no)
        group.shard_total = max(group.shard_total, total, 1)
    for key, group in groups.items():
        order = sorted(range(len(group.files)), key=lambda i: shard_numbers[key][i])
        group.files = [group.files[i] for i in order]
        if group.split_style == "concat" and not any(_PART_SPLIT.match(f.path.rpartition("/")[2]) for f in group.files):
            group.shard_total = len(group.files)  # letter splits do not say how many parts there are
        elif len(set(shard_numbers[key])) != len(shard_numbers[key]):
            group.shard_total = max(group.shard_total, len(group.files) + 1)  # duplicates: never complete
    result.quants = sorted(groups.values(), key=lambda g: (g.size_bytes, g.label))
    return result


def _letters_to_number(letters: str) -> int:
    value = 0
    for char in letters.lower():
        value = value * 26 + (ord(char) - ord("a"))
    return value + 1


# The projector precision to take when the user names none: F16 is what uploaders ship as the reference,
# BF16 needs bf16 kernels on some backends, Q8_0 is the small fallback.
MMPROJ_PREFERENCE = ("F16", "BF16", "Q8_0", "F32")


def mmproj_label(other: OtherFile, catalog: Catalog) -> str | None:
    """The precision label of a projector file: 'F16' for 'mmproj-F16.gguf', 'BF16' for 'mmproj-model-bf16.gguf'."""
    found = find_label(other.path.rpartition("/")[2].removesuffix(".gguf"), catalog)
    if found is None:
        return None
    label, quant = found
    return quant.name if quant is not None else label


def choose_mmproj(parsed: ParsedRepo, catalog: Catalog, wanted: str | None = None) -> OtherFile | None:
    """The vision projector to fetch: the one labelled `wanted`, else by MMPROJ_PREFERENCE, else the smallest.

    Labels are compared whole, so 'F16' never matches inside 'BF16'.
    """
    projectors = [o for o in parsed.other_files if o.kind == "mmproj"]
    labelled = [(mmproj_label(o, catalog), o) for o in projectors]
    if wanted is not None:
        quant = catalog.get(wanted)
        name = (quant.name if quant is not None else wanted).upper()
        return next((o for label, o in labelled if label is not None and label.upper() == name), None)
    for preferred in MMPROJ_PREFERENCE:
        for label, other in labelled:
            if label == preferred:
                return other
    return min(projectors, key=lambda o: o.size_bytes) if projectors else None
