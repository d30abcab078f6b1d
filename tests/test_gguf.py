import struct
import time
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from localhub import gguf_header, llama_metadata
from quantpick.gguf import BOUNDS, HeaderError, ModelShape, ShapeOutOfRange, read_metadata, shape_from_metadata
from quantpick.memory import kv_cache_bytes


def test_reads_the_shape_keys_and_stops_at_the_tokenizer():
    meta = llama_metadata(
        layers=48,
        embd=5120,
        heads=40,
        kv_heads=8,
        ctx=32768,
        vocab=150000,
        experts=64,
        **{"attention.key_length": 128, "attention.sliding_window": 4096},
    )
    header = gguf_header({"general.file_type": 15, **meta})
    prefix = header[:4096]  # the tokenizer strings are far past this point
    values, complete = read_metadata(prefix)
    assert complete
    shape = shape_from_metadata(values)
    assert shape == ModelShape(
        architecture="llama",
        block_count=48,
        embedding_length=5120,
        context_length=32768,
        head_count=40,
        head_count_kv=8,
        key_length=128,
        expert_count=64,
        expert_used_count=2,
        sliding_window=4096,
        vocab_size=150000,
        file_type=15,
    )
    assert shape.is_moe


def test_per_layer_head_count_kv_array():
    meta = llama_metadata(arch="jamba", layers=4, kv_heads=[0, 8, 0, 8])
    shape = shape_from_metadata(read_metadata(gguf_header(meta))[0])
    assert shape.head_count_kv == [0, 8, 0, 8]


def test_truncated_header_gives_what_it_has():
    header = gguf_header(llama_metadata())
    values, complete = read_metadata(header[:60])
    assert not complete
    assert shape_from_metadata(values) is None


def test_not_gguf():
    with pytest.raises(HeaderError):
        read_metadata(b"PK\x03\x04" + b"\0" * 100)
    with pytest.raises(HeaderError):
        read_metadata(b"GGUF" + struct.pack("<I", 99) + b"\0" * 100)


def test_hostile_lengths_are_never_trusted():
    # a key length of 2^60 and an array of 2^62 strings: answered at once, no allocation
    huge_key = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 1 << 60) + b"x" * 64
    assert read_metadata(huge_key) == ({}, False)
    arch = b"".join(
        [struct.pack("<Q", 20), b"general.architecture", struct.pack("<I", 8), struct.pack("<Q", 5), b"llama"]
    )
    bomb = (
        b"GGUF"
        + struct.pack("<IQQ", 3, 0, 2)
        + arch
        + struct.pack("<Q", 4)
        + b"junk"
        + struct.pack("<IIQ", 9, 8, 1 << 62)
        + b"\0" * 1000
    )
    started = time.perf_counter()
    tracemalloc.start()
    values, complete = read_metadata(bomb)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert not complete and values == {"general.architecture": "llama"}
    assert time.perf_counter() - started < 1 and peak < 1 << 20


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=2048))
def test_fuzz_random_bytes_never_crash(data):
    try:
        values, _ = read_metadata(b"GGUF" + struct.pack("<I", 3) + data)
    except HeaderError:
        return
    shape_from_metadata(values)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2000), st.integers(0, 255), st.integers(0, 7))
def test_fuzz_mutated_real_headers(position, value, cut):
    header = bytearray(gguf_header(llama_metadata(vocab=50)))
    if position < len(header):
        header[position] = value
    data = bytes(header[: len(header) - cut * 37])
    try:
        values, _ = read_metadata(data)
    except HeaderError:
        return
    try:
        shape = shape_from_metadata(values)
    except ShapeOutOfRange:
        return  # "shape unknown": the default reserve, never a long loop
    assert shape is None or 1 <= shape.block_count <= BOUNDS["block_count"]
    if shape is not None:
        kv_cache_bytes(shape, 131072)  # bounded work whatever the header said
