"""A bounded GGUF header reader: the few metadata keys a memory estimate needs, from a prefix of the file.

Pure and defensive: lengths in the header are never trusted beyond the bytes actually present, so a
truncated or hostile header ends as "shape unknown", never as a huge allocation or a long loop.
"""

from __future__ import annotations

import struct
from dataclasses import asdict, dataclass
from typing import Any

MAX_STRING = 1 << 16  # a metadata key or value longer than 64 KiB is not a shape key
MAX_ARRAY_KEPT = 4096  # per-layer arrays are at most a few hundred entries

_SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_SIZES = {k: struct.calcsize(v) for k, v in _SCALAR.items()}
_STRING, _ARRAY = 8, 9

SHAPE_SUFFIXES = (
    "block_count",
    "context_length",
    "embedding_length",
    "attention.head_count",
    "attention.head_count_kv",
    "attention.key_length",
    "attention.value_length",
    "expert_count",
    "expert_used_count",
    "attention.sliding_window",
    "attention.sliding_window_pattern",
    "attention.kv_lora_rank",
    "attention.key_length_mla",
    "attention.value_length_mla",
    "rope.dimension_count",
    "ssm.conv_kernel",
    "ssm.inner_size",
    "ssm.state_size",
    "ssm.group_count",
    "feed_forward_length",
    "expert_feed_forward_length",
    "expert_shared_count",
    "leading_dense_block_count",
)


# Bounds on every header value that sizes a loop or an allocation (the largest models have a few hundred
# layers, 262k vocabularies and 10M-token contexts; anything past these is not a real model).
BOUNDS = {
    "block_count": 4096,
    "embedding_length": 1 << 20,
    "context_length": 1 << 27,
    "head_count": 1 << 16,
    "head_count_kv": 1 << 16,
    "key_length": 1 << 16,
    "value_length": 1 << 16,
    "expert_count": 1 << 16,
    "expert_used_count": 1 << 16,
    "sliding_window": 1 << 27,
    "sliding_window_pattern": 4096,
    "kv_lora_rank": 1 << 16,
    "vocab_size": 1 << 24,
    "key_length_mla": 1 << 16,
    "ssm_conv_kernel": 1 << 10,
    "ssm_inner_size": 1 << 20,
    "ssm_state_size": 1 << 16,
    "ssm_group_count": 1 << 16,
    "feed_forward_length": 1 << 22,
    "expert_feed_forward_length": 1 << 22,
    "expert_shared_count": 1 << 16,
    "leading_dense_block_count": 4096,
}


class ShapeOutOfRange(ValueError):
    """A header value past BOUNDS: the shape is treated as unknown (the message names the key)."""


class HeaderError(ValueError):
    """Not a GGUF header we can read (bad magic, unknown value type, a length past the data)."""


class _Truncated(Exception):
    pass


@dataclass(frozen=True)
class ModelShape:
    """What a memory estimate needs to know about a model, read from its GGUF header."""

    architecture: str
    block_count: int
    embedding_length: int | None = None
    context_length: int | None = None
    head_count: int | list[int] | None = None
    head_count_kv: int | list[int] | None = None
    key_length: int | None = None
    value_length: int | None = None
    expert_count: int | None = None
    expert_used_count: int | None = None
    sliding_window: int | None = None
    sliding_window_pattern: int | list[bool] | None = None
    kv_lora_rank: int | None = None
    vocab_size: int | None = None
    file_type: int | None = None
    key_length_mla: int | None = None  # set by MLA GGUFs: the K cache then holds one latent row per token
    ssm_conv_kernel: int | None = None  # Mamba-style recurrent layers
    ssm_inner_size: int | None = None
    ssm_state_size: int | None = None
    ssm_group_count: int | None = None
    feed_forward_length: int | None = None
    expert_feed_forward_length: int | None = None  # MoE: each expert's FFN width
    expert_shared_count: int | None = None
    leading_dense_block_count: int | None = None  # MoE: the first layers are dense

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelShape:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)

    @property
    def is_moe(self) -> bool:
        return bool(self.expert_count and self.expert_count > 1)


class _Reader:
    def __init__(self, data: bytes):
        self.data = memoryview(data)
        self.pos = 0

    def take(self, size: int) -> memoryview:
        end = self.pos + size
        if size < 0 or end > len(self.data):
            raise _Truncated
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def unpack(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self, limit: int = MAX_STRING) -> str:
        length = self.unpack("<Q")
        if length > limit:
            if self.pos + length > len(self.data):
                raise _Truncated
            raise HeaderError(f"string of {length} bytes")
        return bytes(self.take(length)).decode("utf-8", errors="replace")

    def skip_string(self) -> None:
        self.take(self.unpack("<Q"))

    def value(self, value_type: int, keep: bool) -> Any:
        if value_type in _SCALAR:
            return self.unpack(_SCALAR[value_type])
        if value_type == _STRING:
            if keep:
                return self.string()
            self.skip_string()
            return None
        if value_type == _ARRAY:
            item_type = self.unpack("<I")
            count = self.unpack("<Q")
            if item_type in _SIZES:
                if not keep or count > MAX_ARRAY_KEPT:
                    self.take(count * _SIZES[item_type])  # raises on a count past the data, never allocates
                    return count
                fmt = "<" + _SCALAR[item_type][1] * count
                return list(struct.unpack(fmt, self.take(_SIZES[item_type] * count)))
            if item_type == _STRING:
                for _ in range(count):  # bounded: each step consumes at least 8 bytes of real data
                    self.skip_string()
                return count
            raise HeaderError(f"array of type {item_type}")
        raise HeaderError(f"value type {value_type}")


def read_metadata(data: bytes) -> tuple[dict[str, Any], bool]:
    """Parse the metadata keys quantpick needs from a header prefix.

    Returns (values, complete): `complete` is True when the parser got past every key it might need
    (it stops at the tokenizer block, which llama.cpp writers put after the architecture keys).
    Raises HeaderError when the bytes are not a GGUF header.
    """
    reader = _Reader(data)
    values: dict[str, Any] = {}
    try:
        if bytes(reader.take(4)) != b"GGUF":
            raise HeaderError("not a GGUF file (bad magic)")
        version = reader.unpack("<I")
        if version not in (2, 3):
            raise HeaderError(f"unsupported GGUF version {version}")
        reader.unpack("<Q")  # tensor count
        kv_count = reader.unpack("<Q")
        for _ in range(kv_count):
            key = reader.string(limit=1024)
            value_type = reader.unpack("<I")
            arch = values.get("general.architecture")
            if key == "tokenizer.ggml.tokens":
                reader.unpack("<I")
                values[key] = reader.unpack("<Q")  # the vocab size is the array length: no need to read it
                if arch:
                    return values, True
                raise _Truncated
            keep = key in ("general.architecture", "general.file_type") or (
                arch is not None and key.startswith(arch + ".") and key[len(arch) + 1 :] in SHAPE_SUFFIXES
            )
            value = reader.value(value_type, keep)
            if keep:
                values[key] = value
        return values, True
    except _Truncated:
        return values, False
    except (struct.error, UnicodeDecodeError) as exc:
        raise HeaderError(str(exc)) from None


def shape_from_metadata(values: dict[str, Any]) -> ModelShape | None:
    """A ModelShape when the metadata holds at least the architecture and the layer count."""
    arch = values.get("general.architecture")
    if not isinstance(arch, str):
        return None

    def get(suffix: str, allow_list: bool = False) -> Any:
        value = values.get(f"{arch}.{suffix}")
        if isinstance(value, list):
            numbers = all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in value)
            return [int(x) for x in value] if allow_list and numbers and value else None
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
            return int(value)
        return None

    block_count = get("block_count")
    if not block_count:
        if isinstance(values.get(f"{arch}.block_count"), int) and values[f"{arch}.block_count"] < 0:
            raise ShapeOutOfRange("block_count")
        return None
    pattern = values.get(f"{arch}.attention.sliding_window_pattern")
    if isinstance(pattern, list):
        pattern = [bool(x) for x in pattern]
    elif isinstance(pattern, (int, bool)):
        pattern = int(pattern)
    else:
        pattern = None
    vocab = values.get("tokenizer.ggml.tokens")
    file_type = values.get("general.file_type")
    return validated_shape(
        ModelShape(
            architecture=arch,
            block_count=block_count,
            embedding_length=get("embedding_length"),
            context_length=get("context_length"),
            head_count=get("attention.head_count", allow_list=True),
            head_count_kv=get("attention.head_count_kv", allow_list=True),
            key_length=get("attention.key_length"),
            value_length=get("attention.value_length"),
            expert_count=get("expert_count"),
            expert_used_count=get("expert_used_count"),
            sliding_window=get("attention.sliding_window"),
            sliding_window_pattern=pattern,
            kv_lora_rank=get("attention.kv_lora_rank"),
            vocab_size=vocab if isinstance(vocab, int) else None,
            file_type=file_type if isinstance(file_type, int) else None,
            key_length_mla=get("attention.key_length_mla"),
            ssm_conv_kernel=get("ssm.conv_kernel"),
            ssm_inner_size=get("ssm.inner_size"),
            ssm_state_size=get("ssm.state_size"),
            ssm_group_count=get("ssm.group_count"),
            feed_forward_length=get("feed_forward_length"),
            expert_feed_forward_length=get("expert_feed_forward_length"),
            expert_shared_count=get("expert_shared_count"),
            leading_dense_block_count=get("leading_dense_block_count"),
        )
    )


def validated_shape(shape: ModelShape) -> ModelShape:
    """The shape, if every value is within BOUNDS (per-layer lists as long as the layer count at most)."""
    if not isinstance(shape.architecture, str) or len(shape.architecture) > 256:
        raise ShapeOutOfRange("architecture")
    for key, limit in BOUNDS.items():
        value = getattr(shape, key)
        items = value if isinstance(value, list) else [value]
        if isinstance(value, list) and len(value) > BOUNDS["block_count"]:
            raise ShapeOutOfRange(key)
        for item in items:
            if item is None or isinstance(item, bool):
                continue
            if not isinstance(item, int) or not 0 <= item <= limit:
                raise ShapeOutOfRange(key)
    if shape.block_count < 1:
        raise ShapeOutOfRange("block_count")
    return shape


STOP_TOKEN_KEYS = ("tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id")
MAX_STOP_TOKEN = 256  # bytes: a stop token longer than this is not one


def read_stop_tokens(data: bytes) -> list[str]:
    """The end-of-sequence and end-of-turn token strings of a GGUF header (the whole KV section in `data`).

    Token ids come before or after the vocabulary depending on the writer, so the vocabulary's string offsets
    are kept (not the strings) and resolved once both are known. Raises HeaderError on a malformed header;
    returns what it found when `data` ends early.
    """
    reader = _Reader(data)
    ids: dict[str, int] = {}
    offsets: list[int] = []
    try:
        if bytes(reader.take(4)) != b"GGUF" or reader.unpack("<I") not in (2, 3):
            raise HeaderError("not a GGUF file")
        reader.unpack("<Q")
        for _ in range(reader.unpack("<Q")):
            key = reader.string(limit=1024)
            value_type = reader.unpack("<I")
            if key == "tokenizer.ggml.tokens" and value_type == _ARRAY:
                if reader.unpack("<I") != _STRING:
                    raise HeaderError("tokens are not strings")
                count = reader.unpack("<Q")
                for _ in range(count):  # bounded by the data: each step consumes at least 8 bytes
                    offsets.append(reader.pos)
                    reader.skip_string()
                continue
            value = reader.value(value_type, keep=key in STOP_TOKEN_KEYS)
            if key in STOP_TOKEN_KEYS and isinstance(value, int) and not isinstance(value, bool):
                ids[key] = value
    except _Truncated:
        pass
    except (struct.error, UnicodeDecodeError) as exc:
        raise HeaderError(str(exc)) from None
    found: list[str] = []
    for key in STOP_TOKEN_KEYS:
        index = ids.get(key)
        if index is None or not 0 <= index < len(offsets):
            continue
        reader.pos = offsets[index]
        try:
            token = reader.string(limit=MAX_STOP_TOKEN)
        except (_Truncated, HeaderError):
            continue
        if token and token not in found and all(ch.isprintable() for ch in token):
            found.append(token)
    return found
