import pytest

from quantpick.cli.errors import render
from quantpick.errors import UsageError
from quantpick.sizes import format_size, parse_size


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24GiB", 24 * 1024**3),
        ("24GB", 24 * 1000**3),
        ("24000MiB", 24000 * 1024**2),
        ("1.5T", int(1.5 * 1024**4)),
        ("12", 12 * 1024**3),
        ("0", 0),
        ("0.5", 512 * 1024**2),
        ("512m", 512 * 1024**2),
        (" 8 gib ", 8 * 1024**3),
        ("100B", 100),
        ("2TB", 2 * 1000**4),
    ],
)
def test_parse_size_accepts_units(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "GiB", "-3GB", "12 parsecs", "1e3", "twelve", "1.2.3G"])
def test_parse_size_rejects_nonsense_with_a_hint(text):
    with pytest.raises(UsageError) as caught:
        parse_size(text)
    assert render(caught.value).exit_code == 2
    assert "GiB" in caught.value.hint


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.00 KiB"),
        (5 * 1024**3, "5.00 GiB"),
        (3 * 1024**4, "3.00 TiB"),
        (None, "unknown"),
    ],
)
def test_format_size_always_names_the_unit(value, expected):
    assert format_size(value) == expected
