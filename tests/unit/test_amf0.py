"""AMF0 (and AMF3 behind 0x11): hand-computed byte tables, malformed input, properties."""

from __future__ import annotations

import contextlib
import math
import pickle
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from golive.rtmp.amf0 import (
    MAX_DEPTH,
    UNDEFINED,
    UNSUPPORTED,
    AmfDate,
    AmfError,
    EcmaArray,
    TypedObject,
    Undefined,
    XmlDocument,
    decode_all,
    decode_one,
    encode,
)
from golive.rtmp.errors import ProtocolError
from tests.harness.byte_tables import CONNECT_BYTES, ONE


def h(text: str) -> bytes:
    return bytes.fromhex(text)


CONNECT_VALUES = [
    "connect",
    1.0,
    {
        "app": "live",
        "type": "nonprivate",
        "flashVer": "FMLE/3.0 (compatible; FMSc/1.0)",
        "swfUrl": "rtmp://127.0.0.1:1935/live",
        "tcUrl": "rtmp://127.0.0.1:1935/live",
    },
]

LONG = "a" * 65536

# (exact encoding, value): checked in both directions.
TABLE: list[tuple[bytes, Any]] = [
    (ONE, 1.0),
    (h("00 C004000000000000"), -2.5),
    (h("00 0000000000000000"), 0.0),
    (h("00 7FF0000000000000"), math.inf),
    (h("01 01"), True),
    (h("01 00"), False),
    (h("02 0000"), ""),
    (h("02 0002 6869"), "hi"),
    (h("02 0002 C3A9"), "é"),
    (h("02 0004 F09F8EA5"), "\N{MOVIE CAMERA}"),
    (h("0C 00010000") + b"a" * 65536, LONG),
    (h("03 000009"), {}),
    (h("03 0001 61") + ONE + h("000009"), {"a": 1.0}),
    (h("03 0001 61 03 0001 62 05 000009 000009"), {"a": {"b": None}}),
    (h("05"), None),
    (h("06"), UNDEFINED),
    (h("08 00000000 000009"), EcmaArray()),
    (h("08 00000002 0001 61 0101 0001 62 0100 000009"), EcmaArray(a=True, b=False)),
    (h("0A 00000000"), []),
    (h("0A 00000002") + ONE + h("02 0001 78"), [1.0, "x"]),
    (h("0B 0000000000000000 0000"), AmfDate(0.0)),
    (h("0B 3FF8000000000000 FFC4"), AmfDate(1.5, -60)),
    (h("0D"), UNSUPPORTED),
    (h("0F 00000004 3C612F3E"), XmlDocument("<a/>")),
    (h("10 0003 466F6F 0001 78") + ONE + h("000009"), TypedObject("Foo", {"x": 1.0})),
    (h("10 0000 000009"), TypedObject("", {})),
]


def strict_equal(a: Any, b: Any) -> bool:
    """Equal values of the same types all the way down; floats compared bit for bit."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return struct.pack(">d", a) == struct.pack(">d", b)
    if isinstance(a, dict):
        return list(a) == list(b) and all(strict_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(map(strict_equal, a, b))
    if isinstance(a, TypedObject):
        return a.class_name == b.class_name and strict_equal(a.properties, b.properties)
    if isinstance(a, AmfDate):
        return strict_equal(a.milliseconds, b.milliseconds) and a.timezone == b.timezone
    return bool(a == b)


@pytest.mark.parametrize(("data", "value"), TABLE, ids=lambda x: repr(x)[:40])
def test_table_encodes(data: bytes, value: Any) -> None:
    assert encode(value) == data


@pytest.mark.parametrize(("data", "value"), TABLE, ids=lambda x: repr(x)[:40])
def test_table_decodes(data: bytes, value: Any) -> None:
    decoded, end = decode_one(data)
    assert end == len(data)
    assert strict_equal(decoded, value)
    assert strict_equal(decode_all(memoryview(data)), [value])


def test_connect_command_both_ways() -> None:
    assert encode(*CONNECT_VALUES) == CONNECT_BYTES
    assert decode_all(CONNECT_BYTES) == CONNECT_VALUES
    assert decode_all(bytearray(CONNECT_BYTES)) == CONNECT_VALUES


def test_decode_one_offsets_walk_a_body() -> None:
    first, pos = decode_one(CONNECT_BYTES)
    second, pos = decode_one(CONNECT_BYTES, pos)
    third, pos = decode_one(memoryview(CONNECT_BYTES), pos)
    assert [first, second, third] == CONNECT_VALUES
    assert pos == len(CONNECT_BYTES)
    with pytest.raises(AmfError):
        decode_one(CONNECT_BYTES, pos)
    with pytest.raises(ValueError):
        decode_one(CONNECT_BYTES, -1)


def test_encoder_python_types() -> None:
    assert encode(1) == encode(1.0) == ONE
    assert encode(True) == h("01 01")  # a bool is not a number
    assert encode((1.0, "x")) == encode([1.0, "x"])
    assert encode("b" * 65535)[:3] == h("02 FFFF")  # the largest short string
    assert encode() == b""


@pytest.mark.parametrize("value", [b"bytes", {1.0}, object(), {1: "non-str key"}, 1j])
def test_encoder_rejects_unknown_types(value: Any) -> None:
    with pytest.raises(TypeError):
        encode(value)


def test_encoder_rejects_cycles_and_long_names() -> None:
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    with pytest.raises(ValueError):
        encode(cyclic)
    with pytest.raises(ValueError):
        encode({"k" * 65536: 1})


def test_markers() -> None:
    assert not UNDEFINED and repr(UNDEFINED) == "UNDEFINED"
    assert Undefined() is UNDEFINED
    assert pickle.loads(pickle.dumps(UNDEFINED)) is UNDEFINED
    assert not UNSUPPORTED and repr(UNSUPPORTED) == "UNSUPPORTED"
    assert issubclass(AmfError, ProtocolError)


# --- Decode-only cases -------------------------------------------------------------------


def test_reference_counts_every_complex_object() -> None:
    # The strict array is reference 0 and the object inside it reference 1 (2.9).
    data = h("0A 00000002 03 0001 61") + ONE + h("000009 07 0001")
    value = decode_all(data)[0]
    assert value == [{"a": 1.0}, {"a": 1.0}]
    assert value[0] is value[1]
    # Reference table spans all values of one body (ECMA array, typed object count too).
    body = h("08 00000000 000009 10 0001 43 000009 07 0000 07 0001")
    ecma, typed, ref0, ref1 = decode_all(body)
    assert ref0 is ecma and ref1 is typed


@pytest.mark.parametrize(
    "data",
    [
        h("07 0000"),  # nothing to refer to yet
        h("03 000009 07 0001"),  # index past the table
        h("0A 00000001 07 0000"),  # the array itself, still being read: a cycle
        h("03 0001 61 07 0000 000009"),  # same for an object
    ],
)
def test_bad_references(data: bytes) -> None:
    with pytest.raises(AmfError):
        decode_all(data)


def test_ecma_array_count_is_only_a_hint() -> None:
    for count in ("00000000", "00000005", "FFFFFFFF"):
        data = h(f"08 {count} 0001 61 0101 000009")
        assert decode_all(data) == [EcmaArray(a=True)]
        assert type(decode_all(data)[0]) is EcmaArray


def test_empty_property_name_not_followed_by_end_marker_is_a_property() -> None:
    assert decode_all(h("03 0000 0101 000009")) == [{"": True}]
    assert encode({"": True}) == h("03 0000 0101 000009")


@pytest.mark.parametrize(
    "data",
    [
        h("08 00000001 0001 61 0101"),  # ECMA array without its end marker
        h("03 0001 61 0101"),  # object without its end marker
        h("09"),  # object-end marker as a value
        h("04"),  # MovieClip: reserved
        h("0E"),  # RecordSet: reserved
        h("12"),  # past the marker table
        h("FF"),
        h("02 0001 FF"),  # invalid UTF-8
        h("02 0003 EDA080"),  # UTF-8-encoded surrogate
        h("03 0001 FF 05 000009"),  # invalid UTF-8 in a name
        h("0A FFFFFFFF 05"),  # count far beyond the buffer: refused without allocating
        h("0C FFFFFFFF 61"),
        h("02 0005 6869"),
        h("00 3FF0"),
        h("0B 0000000000000000 00"),
        h("01"),
        h(""),
    ],
)
def test_malformed(data: bytes) -> None:
    with pytest.raises(AmfError):
        decode_one(data)


def nested_objects(depth: int) -> bytes:
    return h("03 0001 61") * depth + h("05") + h("000009") * depth


def test_depth_limit() -> None:
    assert decode_one(nested_objects(MAX_DEPTH))[1] == len(nested_objects(MAX_DEPTH))
    with pytest.raises(AmfError):
        decode_one(nested_objects(MAX_DEPTH + 1))
    with pytest.raises(AmfError):
        decode_one(h("0A 00000001") * 100_000)  # no RecursionError
    with pytest.raises(AmfError):
        decode_one(h("11") + h("09 03 01") * 100_000)  # AMF3 arrays count toward the same limit
    deep: Any = None
    for _ in range(MAX_DEPTH):
        deep = [deep]
    assert decode_all(encode(deep)) == [deep]
    with pytest.raises(ValueError):
        encode([deep])


# --- AMF3 behind the avmplus-object-marker (AMF0 3.1) --------------------------------------

AMF3_TABLE: list[tuple[str, Any]] = [
    ("00", UNDEFINED),
    ("01", None),
    ("02", False),
    ("03", True),
    ("04 05", 5),
    ("04 7F", 127),
    ("04 8100", 128),
    ("04 BFFFFFFF", 0x0FFFFFFF),  # largest positive 29-bit integer
    ("04 FFFFFFFF", -1),  # sign-extended
    ("04 C0808000", -0x10000000),  # smallest
    ("05 3FF0000000000000", 1.0),
    ("06 01", ""),
    ("06 05 6162", "ab"),
    ("09 05 01 06 05 6162 06 00", ["ab", "ab"]),  # second string by reference
    ("09 07 01 04 01 04 02 04 03", [1, 2, 3]),  # dense array
    ("09 01 01", []),
    ("09 03 03 61 04 01 01 04 07", EcmaArray({"0": 7, "a": 1})),  # associative + dense
    ("0A 0B 01 03 61 04 01 03 62 06 03 61 01", {"a": 1, "b": "a"}),  # dynamic anonymous
    # Sealed class "P" with member "x", then a second instance reusing the traits.
    (
        "09 05 01 0A 13 03 50 03 78 04 01 0A 01 04 02",
        [TypedObject("P", {"x": 1}), TypedObject("P", {"x": 2})],
    ),
    # Sealed member "x" plus dynamic "y" on class "Q".
    ("0A 1B 03 51 03 78 04 01 03 79 04 02 01", TypedObject("Q", {"x": 1, "y": 2})),
    ("08 01 3FF0000000000000", AmfDate(1.0)),
    ("07 09 3C612F3E", XmlDocument("<a/>")),
    ("0B 09 3C612F3E", XmlDocument("<a/>")),
    ("0C 07 010203", b"\x01\x02\x03"),
    ("0C 01", b""),
]


@pytest.mark.parametrize(("hex_amf3", "value"), AMF3_TABLE)
def test_amf3_values(hex_amf3: str, value: Any) -> None:
    data = h("11 " + hex_amf3)
    decoded, end = decode_one(data)
    assert end == len(data)
    assert strict_equal(decoded, value)


def test_amf3_object_references() -> None:
    # Object table: the array is 0, the empty object 1; 0A 02 refers to the object.
    value = decode_all(h("11 09 05 01 0A 0B 01 01 0A 02"))[0]
    assert value == [{}, {}] and value[0] is value[1]
    # Dates, XML and byte arrays take object-table slots as well.
    value = decode_all(h("11 09 07 01 08 01 0000000000000000 0C 03 FF 08 02"))[0]
    assert value == [AmfDate(0.0), b"\xff", AmfDate(0.0)]


def test_amf3_tables_reset_per_marker() -> None:
    assert decode_all(h("11 06 05 6162 11 06 05 6364")) == ["ab", "cd"]
    with pytest.raises(AmfError):
        decode_all(h("11 06 05 6162 11 06 00"))


def test_amf3_inside_a_type_17_command() -> None:
    # After its format byte, an AMF3 command body is AMF0 with 0x11 switches.
    body = h("02 0007") + b"connect" + ONE + h("11 0A 0B 01 07 617070 06 09 6C697665 01")
    assert decode_all(body) == ["connect", 1.0, {"app": "live"}]


@pytest.mark.parametrize(
    "hex_amf3",
    [
        "0A 07 03 41",  # externalizable object
        "0A 01",  # traits reference with an empty traits table
        "06 02",  # string reference with an empty string table
        "09 03 01 09 00",  # array holding a reference to itself
        "0A 0B 01 03 61 0A 00 01",  # object holding a reference to itself
        "0D",  # Vector, not supported
        "11",  # Dictionary, not supported
        "06 03 FF",  # invalid UTF-8
        "04 FF",  # truncated U29
        "09 FFFFFFFF 01",  # dense count beyond the buffer
        "0A FFFFFFF3 01",  # sealed member count beyond the buffer
        "0C 09 01",  # byte array shorter than its length
    ],
)
def test_amf3_malformed(hex_amf3: str) -> None:
    with pytest.raises(AmfError):
        decode_all(h("11 " + hex_amf3))


# --- Properties ----------------------------------------------------------------------------

names = st.text(max_size=8)
scalars = (
    st.floats()
    | st.integers(-(2**53), 2**53).map(float)
    | st.text()
    | st.booleans()
    | st.none()
    | st.just(UNDEFINED)
    | st.just(UNSUPPORTED)
    | st.text(max_size=20).map(XmlDocument)
    | st.builds(AmfDate, st.floats(), st.integers(-(2**15), 2**15 - 1))
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(names, children, max_size=5)
        | st.dictionaries(names, children, max_size=5).map(EcmaArray)
        | st.builds(TypedObject, names, st.dictionaries(names, children, max_size=5))
    ),
    max_leaves=30,
)


@given(st.lists(values, max_size=4))
def test_round_trip(items: list[Any]) -> None:
    data = encode(*items)
    decoded = decode_all(data)
    assert strict_equal(decoded, items)
    assert encode(*decoded) == data


@settings(max_examples=300)
@given(values, st.data())
def test_truncation_is_an_amf_error(value: Any, data: st.DataObject) -> None:
    encoded = encode(value)
    cut = data.draw(st.integers(1, max(1, len(encoded) - 1)))
    if cut < len(encoded):  # one-byte values (null, undefined) have no proper prefix
        with pytest.raises(AmfError):
            decode_all(encoded[:cut])


def test_every_truncation_of_the_connect_command() -> None:
    # Cutting between values leaves a shorter valid body; any other cut is an error.
    valid_cuts: dict[int, list[Any]] = {}
    pos = 0
    for i in range(len(CONNECT_VALUES)):
        pos = decode_one(CONNECT_BYTES, pos)[1]
        valid_cuts[pos] = CONNECT_VALUES[: i + 1]
    for cut in range(1, len(CONNECT_BYTES)):
        if cut in valid_cuts:
            assert decode_all(CONNECT_BYTES[:cut]) == valid_cuts[cut]
        else:
            with pytest.raises(AmfError):
                decode_all(CONNECT_BYTES[:cut])


def decode_or_amf_error(data: bytes) -> None:
    with contextlib.suppress(AmfError):
        decode_all(data)


@settings(max_examples=500)
@given(st.binary(max_size=200))
def test_arbitrary_bytes(data: bytes) -> None:
    decode_or_amf_error(data)
    decode_or_amf_error(b"\x11" + data)


@settings(max_examples=500)
@given(values, st.data())
def test_corrupted_encodings(value: Any, data: st.DataObject) -> None:
    encoded = bytearray(encode(value))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(encoded) - 1))
        encoded[i] = data.draw(st.integers(0, 255))
    decode_or_amf_error(bytes(encoded))


@settings(max_examples=500)
@given(
    st.lists(
        st.sampled_from(
            [
                "00",
                "01",
                "02",
                "03",
                "04",
                "05",
                "06",
                "09",
                "0A",
                "0B",
                "0C",
                "81",
                "FF",
                "3F",
                "7F",
                "61",
            ]
        ),
        max_size=40,
    )
)
def test_amf3_token_soup(tokens: list[str]) -> None:
    # Random bytes rarely form valid AMF3 headers; building from likely bytes goes deeper.
    decode_or_amf_error(h("11 " + " ".join(tokens)))
