"""golive.fasthttp's parser and golive.hls.fastpath's reading of targets, without a socket.

The property that makes the fast path safe: whatever request head ``parse_get`` accepts,
aiohttp's own parsers (the C one golive runs with, and the pure-Python one) accept too, and read
the same method, target, version, User-Agent and X-Forwarded-For, with no body, no upgrade and
the connection kept alive; and whatever target golive.hls.fastpath reads, yarl reads the same
path and query parameters. Anything else is handed over, which is always safe."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from aiohttp import http_parser
from hypothesis import example, given, settings
from hypothesis import strategies as st
from yarl import URL

from golive.fasthttp import MAX_FIELDS, Clock, head_bytes, parse_get
from golive.hls.fastpath import _PATH, parse_query

PARSERS: list[Any] = [http_parser.HttpRequestParserPy, http_parser.HttpRequestParserC]


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def aiohttp_reads(parser: Any, loop: asyncio.AbstractEventLoop, head: bytes) -> Any:
    """aiohttp's reading of ``head`` as a whole request, as its server parses it."""
    reader = parser(mock.Mock(), loop, 2**16, max_line_size=8190, max_field_size=8190)
    messages, upgraded, tail = reader.feed_data(head + b"\r\n\r\n")
    assert len(messages) == 1 and not upgraded and tail == b""
    message, payload = messages[0]
    assert payload.is_eof() and not message.chunked and not message.upgrade
    return message


# Pieces a request head is made of: mostly ordinary, some of everything aiohttp might read
# another way (spaces, tabs, controls, obs-text, folding, bare LF, repeated singletons).
_NAMES = st.sampled_from(
    [
        "Host", "host", "User-Agent", "user-agent", "X-Forwarded-For", "Accept", "Connection",
    "connection",
        "Content-Length", "Transfer-Encoding", "Expect", "Upgrade", "Cookie", "Range",
        "X-A", "Te", "Content-Type", "Via", "Bad Name", "Bad:Name", "",
    ]
)  # fmt: skip
_VALUE = st.text(
    st.sampled_from([*"abz09 -.,;:/=*\t\"'()", "\x00", "\x7f", "\r", "\n", "é", "\x0b"]),
    max_size=12,
)
_TARGET = st.text(
    st.sampled_from([*"abhlsxyz019/_-.?=&%+#~!$'()*,;:@", " ", "\x00", "é", "\t"]),
    max_size=30,
).map(lambda t: "/hls/" + t)
_LINE = st.one_of(
    st.tuples(
        st.sampled_from(["GET", "GET", "get", "HEAD", "POST"]),
        _TARGET,
        st.sampled_from(["HTTP/1.1", "HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "http/1.1"]),
    ).map(lambda p: " ".join(p)),
    st.just("GET /hls/r/index.m3u8 HTTP/1.1"),
)
_FIELD_LINE = st.one_of(
    st.tuples(_NAMES, st.sampled_from([": ", ":", ": \t", " : "]), _VALUE).map("".join),
    st.sampled_from(
        [
            "Host: 127.0.0.1",
            "Connection: keep-alive",
            "Connection: close",
            "connection: Close",
            "User-Agent: hls.js",
            " x",
        ]
    ),
)


@st.composite
def heads(draw: st.DrawFn) -> bytes:
    fields = draw(st.lists(_FIELD_LINE, max_size=6))
    if draw(st.booleans()):
        fields.insert(draw(st.integers(0, len(fields))), "Host: a")
    head = "\r\n".join([draw(_LINE), *fields])
    return head.encode("utf-8")


@pytest.mark.parametrize("parser", PARSERS)
@settings(max_examples=400)
@given(head=heads())
@example(head=b"GET /hls/r/index.m3u8 HTTP/1.1\r\nHost: a\r\nUser-Agent: b\r\nX-Forwarded-For: c")
@example(head=b"GET /hls/r/x?a=b#f HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive")
def test_what_the_parser_accepts_aiohttp_reads_alike(
    parser: Any, loop: asyncio.AbstractEventLoop, head: bytes
) -> None:
    request = parse_get(head)
    if request is None:
        return  # aiohttp's to judge: always safe
    message = aiohttp_reads(parser, loop, head)
    assert (message.method, message.path, message.version) == ("GET", request.target, (1, 1))
    assert message.headers.get("User-Agent", "") == request.user_agent
    assert message.headers.getall("X-Forwarded-For", []) == request.forwarded_for
    assert message.should_close == request.close


@pytest.mark.parametrize(
    "head",
    [
        b"GET /hls/r/index.m3u8 HTTP/1.1",  # no Host: aiohttp answers 400
        b"GET /hls/r/index.m3u8 HTTP/1.1\r\nHost: a\r\nHost: a",
        b"GET /hls/r/index.m3u8 HTTP/1.1\r\nHost: a\r\nContent-Type: a\r\ncontent-type: b",
        b"GET /hls/r/index.m3u8 HTTP/1.1\r\nHost: a\r\nConnection: upgrade",
        b"GET /hls/r/index.m3u8 HTTP/1.1\r\nHost: a\r\nConnection: close, te",
        b"GET /hls/r/index.m3u8 HTTP/1.1\r\nHost: a\r\nX: \xe9",
        b"GET /hls/r/index.m3u8 HTTP/1.1\r\nHost: a" + b"\r\nX: y" * MAX_FIELDS,
        b"GET /api/me HTTP/1.1\r\nHost: a",
    ],
)
def test_what_aiohttp_may_refuse_or_read_otherwise_is_handed_over(head: bytes) -> None:
    assert parse_get(head) is None


_QUERY = st.lists(
    st.tuples(
        st.sampled_from(["_HLS_msn", "_HLS_part", "_HLS_skip", "a", "", "_HLS_msn"]),
        st.sampled_from(["=", "", "=="]),
        st.text(st.sampled_from(list("0129YESv_.~-+%&;=# ")), max_size=4),
    ).map("".join),
    max_size=4,
).map("&".join)


@settings(max_examples=400)
@given(query=_QUERY)
@example(query="_HLS_msn=1&_HLS_msn=2")
@example(query="_HLS_skip=YES&_HLS_part=0&_HLS_msn=12")
def test_a_query_is_read_as_yarl_reads_it(query: str) -> None:
    params = parse_query(query)
    if params is None:
        return  # aiohttp's to read
    read = URL("/hls/r/s/index.m3u8?" + query, encoded=True).query
    assert set(params) == set(read)
    assert all(read.get(name) == value for name, value in params.items())


@given(path=st.text(st.sampled_from(list("ab09/._~-%{}+@:")), max_size=24).map("/hls/".__add__))
@example(path="/hls/r/./index.m3u8")
@example(path="/hls/r/../index.m3u8")
@example(path="/hls/r/s/..")
def test_a_path_is_read_as_aiohttps_router_reads_it(path: str) -> None:
    match = _PATH.fullmatch(path)
    if match is None:
        return
    url = URL(path, encoded=True)
    assert url.path_safe == url.raw_path == path  # nothing to unescape, no dot segment
    assert [n for n in match.groups() if n is not None] == path.split("/")[2:]


def test_a_head_is_the_status_line_and_headers_in_order() -> None:
    head = head_bytes(404, [("B", "1"), ("A", "2")])
    assert head == b"HTTP/1.1 404 Not Found\r\nB: 1\r\nA: 2\r\n"
    assert head_bytes(599, {}) == b"HTTP/1.1 599 \r\n"


def test_the_date_line_ends_the_head() -> None:
    clock = Clock(b"Server: x\r\n")
    assert clock.line().startswith(b"Date: ")
    assert clock.line().endswith(b" GMT\r\nServer: x\r\n\r\n")
    assert clock.line(close=True).endswith(b" GMT\r\nServer: x\r\nConnection: close\r\n\r\n")
