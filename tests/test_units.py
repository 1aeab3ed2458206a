"""Bytes and durations: what a user types is read as Dask reads it; what the toolkit prints reads back."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from toolkit import ConfigError
from toolkit._units import format_bytes, format_duration, parse_bytes


def test_sizes_users_type():
    assert parse_bytes("768MiB") == 768 * 2**20
    assert parse_bytes("1.5 GiB") == 3 * 2**29
    assert parse_bytes("2GB") == 2 * 10**9
    assert parse_bytes(" 512 kb ") == 512_000
    assert parse_bytes("4096") == 4096
    assert parse_bytes(2**30) == 2**30
    # what Dask also takes (the README says so): 'Gi' for GiB, petabytes
    assert parse_bytes("2Gi") == 2 * 2**30 and parse_bytes("512mi") == 512 * 2**20 and parse_bytes("1PB") == 10**15


@pytest.mark.parametrize("bad", ["lots", "MB", "1e3", "-5MB", "2 GiBs", -1, float("nan"), True, None, [1]])
def test_a_size_it_cannot_read_names_the_setting(bad):
    with pytest.raises(ConfigError, match="`memory_limit`: expected a size like 2GiB"):
        parse_bytes(bad, key="memory_limit")


def test_formats_read_as_written():
    assert format_bytes(300 * 2**20) == "300 MiB"
    assert format_bytes(3 * 2**29) == "1.5 GiB"
    assert format_bytes(512) == "512 B"
    assert format_bytes(1023.99 * 2**10) == "1 MiB"  # never "1024 KiB"
    assert format_bytes(None) == "?"


def test_durations():
    assert [format_duration(s) for s in (0, 4.24, 42, 185, 3725)] == ["0.0s", "4.2s", "42s", "3m05s", "1h02m"]
    assert format_duration(None) == "–" and format_duration(-3) == "0.0s"


@given(st.integers(min_value=0, max_value=2**50))
def test_format_then_parse_is_within_the_shown_precision(n):
    text = format_bytes(n)
    number, unit = text.split()
    scale = 1 if unit == "B" else 2 ** (10 * ["B", "KiB", "MiB", "GiB", "TiB", "PiB"].index(unit))
    back = parse_bytes(text)
    assert abs(back - n) <= 0.05 * scale + 1, (n, text, back)
    assert float(number) < 1024 or unit == "PiB"


@given(st.integers(min_value=1, max_value=1023), st.sampled_from(["B", "KiB", "MiB", "GiB", "TiB"]))
def test_whole_binary_sizes_round_trip_exactly(k, unit):
    n = k * 2 ** (10 * ["B", "KiB", "MiB", "GiB", "TiB"].index(unit))
    assert format_bytes(n) == f"{k} {unit}" and parse_bytes(format_bytes(n)) == n
