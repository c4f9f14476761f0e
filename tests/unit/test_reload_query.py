"""The query of a media playlist request (golive.hls.reload): blocking reload and delta
updates, and what is refused with the message the client gets in its 400 answer."""

from __future__ import annotations

import pytest

from golive.hls.reload import ReloadQuery, ReloadQueryError, parse_reload_query


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, ReloadQuery()),
        ({"_HLS_msn": "12"}, ReloadQuery(12)),
        ({"_HLS_msn": "12", "_HLS_part": "0"}, ReloadQuery(12, 0)),
        ({"_HLS_msn": "007", "_HLS_skip": "YES"}, ReloadQuery(7, None, True)),
        ({"_HLS_skip": "v2"}, ReloadQuery(skip=True)),
        ({"_HLS_skip": "yes", "other": "x"}, ReloadQuery()),
        ({"_HLS_msn": "999999999999"}, ReloadQuery(999_999_999_999)),
    ],
)
def test_reload_query(query: dict[str, str], expected: ReloadQuery) -> None:
    assert parse_reload_query(query) == expected


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"_HLS_msn": ""}, "_HLS_msn must be a non-negative integer"),
        ({"_HLS_msn": "-1"}, "_HLS_msn must be a non-negative integer"),
        ({"_HLS_msn": "1.0"}, "_HLS_msn must be a non-negative integer"),
        ({"_HLS_msn": "1000000000000"}, "_HLS_msn must be a non-negative integer"),
        ({"_HLS_msn": "1", "_HLS_part": " 1"}, "_HLS_part must be a non-negative integer"),
        ({"_HLS_part": "1"}, "_HLS_part needs _HLS_msn"),
        # Digits str.isdigit() takes but a decimal-integer does not: a superscript two made
        # int() raise ValueError (an answer of 500), Arabic-Indic digits read as 12.
        ({"_HLS_msn": "\u00b2"}, "_HLS_msn must be a non-negative integer"),
        ({"_HLS_msn": "\u0661\u0662"}, "_HLS_msn must be a non-negative integer"),
    ],
)
def test_refused_reload_query(query: dict[str, str], message: str) -> None:
    with pytest.raises(ReloadQueryError) as refused:
        parse_reload_query(query)
    assert str(refused.value) == message
