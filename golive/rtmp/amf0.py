"""AMF0 values (Adobe, "Action Message Format -- AMF 0"), with an AMF3 reader for 0x11.

RTMP command (type 20) and data (type 18) message bodies are AMF0 values back to back;
their type 17/15 twins add one format byte and may switch single values to AMF3 through
the avmplus-object-marker (AMF0, 3.1). So this module encodes AMF0 and decodes AMF0 plus
the AMF3 values that can appear behind that marker (AMF3 encoding is never needed: golive
always answers in AMF0).

Python mapping::

    number        float (int accepted when encoding)   boolean       bool
    string        str (long string above 65535 bytes)  object        dict[str, Any]
    ECMA array    EcmaArray                            strict array  list (tuple encodes too)
    null          None                                 undefined     UNDEFINED
    unsupported   UNSUPPORTED                          date          AmfDate
    XML document  XmlDocument                          typed object  TypedObject
    AMF3 integer  int                                  AMF3 ByteArray bytes

The decoder reads bytes from the network, so it trusts nothing: every length is checked
against the buffer before it is used, nesting is bounded by ``MAX_DEPTH``, references may
only point at finished objects (so a decoded value never contains a cycle), and every
failure is an :class:`AmfError`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Self

from .errors import ProtocolError

__all__ = [
    "MAX_DEPTH",
    "UNDEFINED",
    "UNSUPPORTED",
    "AmfDate",
    "AmfError",
    "EcmaArray",
    "TypedObject",
    "Undefined",
    "Unsupported",
    "XmlDocument",
    "decode_all",
    "decode_one",
    "encode",
]

MAX_DEPTH: Final = 64
"""Deepest nesting of containers accepted; real RTMP commands nest two or three levels."""

_DOUBLE: Final = struct.Struct(">d")
_U16: Final = struct.Struct(">H")
_U32: Final = struct.Struct(">I")
_DATE: Final = struct.Struct(">dh")
_MARKED_DOUBLE: Final = struct.Struct(">Bd")
_MARKED_U16: Final = struct.Struct(">BH")
_MARKED_U32: Final = struct.Struct(">BI")
_MARKED_DATE: Final = struct.Struct(">Bdh")
_OBJECT_END: Final = b"\x00\x00\x09"


class AmfError(ProtocolError):
    """The peer sent AMF data that is malformed, truncated or unsupported."""


class _Marker:
    """One falsy instance per subclass, so ``is`` comparisons and pickling work."""

    __slots__ = ()
    _instances: ClassVar[dict[type, _Marker]] = {}

    def __new__(cls) -> Self:
        instance = _Marker._instances.get(cls)
        if instance is None:
            instance = _Marker._instances[cls] = super().__new__(cls)
        return instance  # type: ignore[return-value]

    def __repr__(self) -> str:
        return type(self).__name__.upper()

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        # Pickle by module-level name, which is the repr.
        return repr(self)


class Undefined(_Marker):
    """AMF0, 2.8 undefined Type (also AMF3, 3.2): distinct from null, e.g. in ``_result``."""

    __slots__ = ()


class Unsupported(_Marker):
    """AMF0, 2.15 Unsupported Type: a value the sender could not serialize."""

    __slots__ = ()


UNDEFINED: Final = Undefined()
UNSUPPORTED: Final = Unsupported()


class EcmaArray(dict[str, Any]):
    """AMF0, 2.10 ECMA Array Type: an associative array, e.g. the body of ``onMetaData``."""


class XmlDocument(str):
    """AMF0, 2.17 XML Document Type (and AMF3 3.9/3.13): XML kept as its source text."""

    __slots__ = ()


@dataclass(frozen=True)
class AmfDate:
    """AMF0, 2.13 Date Type: milliseconds since the Unix epoch, UTC.

    ``timezone`` is the sender's offset in minutes; the spec says it should be 0 and
    receivers ignore it, but it is kept so that decoding then encoding is lossless.
    """

    milliseconds: float
    timezone: int = 0


@dataclass
class TypedObject:
    """AMF0, 2.18 Typed Object Type (and AMF3 3.12 objects with a class name)."""

    class_name: str
    properties: dict[str, Any]


# ---------------------------------------------------------------------------------------
# Encoding
# ---------------------------------------------------------------------------------------


def encode(*values: Any) -> bytes:
    """Encode each value as AMF0 and return the concatenation.

    Raises ``TypeError`` for a Python type with no AMF0 counterpart (or a non-``str``
    property name) and ``ValueError`` for a property name over 65535 UTF-8 bytes or
    nesting deeper than ``MAX_DEPTH`` (which the decoder would refuse; it also catches
    cyclic values).
    """
    out: list[bytes] = []
    for value in values:
        _encode_value(value, out, 0)
    return b"".join(out)


def _encode_value(value: Any, out: list[bytes], depth: int) -> None:
    # Most specific classes first: bool is an int, XmlDocument a str, EcmaArray a dict.
    if isinstance(value, str):
        data = value.encode("utf-8")
        if isinstance(value, XmlDocument):
            out.append(_MARKED_U32.pack(0x0F, len(data)))  # 2.17
        elif len(data) <= 0xFFFF:
            out.append(_MARKED_U16.pack(0x02, len(data)))  # 2.4
        else:
            out.append(_MARKED_U32.pack(0x0C, len(data)))  # 2.14
        out.append(data)
    elif isinstance(value, bool):
        out.append(b"\x01\x01" if value else b"\x01\x00")  # 2.3
    elif isinstance(value, int | float):
        out.append(_MARKED_DOUBLE.pack(0x00, value))  # 2.2
    elif value is None:
        out.append(b"\x05")  # 2.7
    elif isinstance(value, dict | list | tuple | TypedObject):
        if depth >= MAX_DEPTH:
            raise ValueError(f"AMF nesting deeper than {MAX_DEPTH} (is the value cyclic?)")
        if isinstance(value, EcmaArray):
            out.append(_MARKED_U32.pack(0x08, len(value)))  # 2.10
            _encode_properties(value, out, depth + 1)
        elif isinstance(value, dict):
            out.append(b"\x03")  # 2.5
            _encode_properties(value, out, depth + 1)
        elif isinstance(value, TypedObject):
            out.append(b"\x10")  # 2.18
            _encode_name(value.class_name, out)
            _encode_properties(value.properties, out, depth + 1)
        else:
            out.append(_MARKED_U32.pack(0x0A, len(value)))  # 2.12
            for item in value:
                _encode_value(item, out, depth + 1)
    elif isinstance(value, AmfDate):
        out.append(_MARKED_DATE.pack(0x0B, value.milliseconds, value.timezone))  # 2.13
    elif isinstance(value, Undefined):
        out.append(b"\x06")  # 2.8
    elif isinstance(value, Unsupported):
        out.append(b"\x0d")  # 2.15
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as AMF0")


def _encode_name(name: Any, out: list[bytes]) -> None:
    if not isinstance(name, str):
        raise TypeError(f"AMF0 property and class names must be str, not {type(name).__name__}")
    data = name.encode("utf-8")
    if len(data) > 0xFFFF:
        raise ValueError("AMF0 property or class name longer than 65535 UTF-8 bytes")
    out.append(_U16.pack(len(data)))
    out.append(data)


def _encode_properties(properties: dict[Any, Any], out: list[bytes], depth: int) -> None:
    for name, value in properties.items():
        _encode_name(name, out)
        _encode_value(value, out, depth)
    out.append(_OBJECT_END)  # 2.11


# ---------------------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------------------

_PENDING: Final = object()
"""Holds a reference-table slot while its object is still being read (see ``_enter``)."""


def decode_one(data: bytes | bytearray | memoryview, offset: int = 0) -> tuple[Any, int]:
    """Decode the AMF0 value at ``offset``; return it and the offset just past it."""
    if offset < 0:
        raise ValueError("offset must not be negative")
    decoder = _Decoder(data, offset)
    return decoder.value(), decoder.pos


def decode_all(data: bytes | bytearray | memoryview) -> list[Any]:
    """Decode AMF0 values until the end of ``data`` (an RTMP command or data message).

    The values share one reference table (AMF0, 2.9), since the body is one message.
    """
    decoder = _Decoder(data, 0)
    end = len(decoder.data)
    values = []
    while decoder.pos < end:
        values.append(decoder.value())
    return values


class _Decoder:
    """Cursor over one buffer with the AMF0 reference table; ``_Amf3`` reads through it."""

    __slots__ = ("data", "depth", "pos", "refs")

    def __init__(self, data: bytes | bytearray | memoryview, pos: int) -> None:
        # Cast so that indexing yields ints and len() counts bytes for any buffer format.
        self.data = data if isinstance(data, bytes) else memoryview(data).cast("B")
        self.pos = pos
        self.depth = 0
        self.refs: list[Any] = []

    def need(self, n: int) -> int:
        """Consume ``n`` bytes and return where they start, or fail if they are missing."""
        pos = self.pos
        if n > len(self.data) - pos:
            raise AmfError(f"AMF data truncated: need {n} bytes at offset {pos}")
        self.pos = pos + n
        return pos

    def byte(self) -> int:
        return self.data[self.need(1)]

    def unpack(self, fmt: struct.Struct) -> tuple[Any, ...]:
        return fmt.unpack_from(self.data, self.need(fmt.size))

    def utf8(self, n: int) -> str:
        start = self.need(n)
        try:
            return str(self.data[start : start + n], "utf-8")
        except UnicodeDecodeError as exc:
            raise AmfError(f"invalid UTF-8 in AMF string at offset {start}: {exc}") from None

    def check_count(self, count: int) -> None:
        # Every element takes at least one byte; refusing impossible counts up front keeps
        # a forged count from costing more than the buffer's length in work.
        if count > len(self.data) - self.pos:
            raise AmfError(f"AMF count {count} exceeds the {len(self.data) - self.pos} bytes left")

    def enter(self, refs: list[Any]) -> int:
        """Open a container: bound the depth and reserve its reference-table slot.

        The slot is taken before the contents are read, as the spec numbers objects in
        the order they begin; it holds ``_PENDING`` until ``leave``, so a reference from
        inside an object to itself or an ancestor (a cycle) is refused.
        """
        if self.depth >= MAX_DEPTH:
            raise AmfError(f"AMF nesting deeper than {MAX_DEPTH}")
        self.depth += 1
        refs.append(_PENDING)
        return len(refs) - 1

    def leave(self, refs: list[Any], slot: int, value: Any) -> Any:
        self.depth -= 1
        refs[slot] = value
        return value

    @staticmethod
    def lookup(table: list[Any], index: int, what: str) -> Any:
        if index >= len(table) or table[index] is _PENDING:
            raise AmfError(f"AMF {what} reference {index} does not name a finished entry")
        return table[index]

    def value(self) -> Any:
        """Read one AMF0 value (AMF0, 2.1 marker table)."""
        marker = self.byte()
        if marker == 0x02:  # 2.4 String Type
            return self.utf8(self.unpack(_U16)[0])
        if marker == 0x00:  # 2.2 Number Type
            return self.unpack(_DOUBLE)[0]
        if marker == 0x03:  # 2.5 Object Type
            slot = self.enter(self.refs)
            return self.leave(self.refs, slot, self.properties({}))
        if marker == 0x05:  # 2.7 null Type
            return None
        if marker == 0x01:  # 2.3 Boolean Type
            return self.byte() != 0
        if marker == 0x06:  # 2.8 undefined Type
            return UNDEFINED
        if marker == 0x08:  # 2.10 ECMA Array Type; the count is only a hint, the end marker rules
            self.need(4)
            slot = self.enter(self.refs)
            return self.leave(self.refs, slot, self.properties(EcmaArray()))
        if marker == 0x0A:  # 2.12 Strict Array Type
            count = self.unpack(_U32)[0]
            self.check_count(count)
            slot = self.enter(self.refs)
            return self.leave(self.refs, slot, [self.value() for _ in range(count)])
        if marker == 0x07:  # 2.9 Reference Type
            return self.lookup(self.refs, self.unpack(_U16)[0], "AMF0 object")
        if marker == 0x0B:  # 2.13 Date Type
            milliseconds, timezone = self.unpack(_DATE)
            return AmfDate(milliseconds, timezone)
        if marker == 0x0C:  # 2.14 Long String Type
            return self.utf8(self.unpack(_U32)[0])
        if marker == 0x0F:  # 2.17 XML Document Type
            return XmlDocument(self.utf8(self.unpack(_U32)[0]))
        if marker == 0x10:  # 2.18 Typed Object Type
            class_name = self.utf8(self.unpack(_U16)[0])
            slot = self.enter(self.refs)
            typed = TypedObject(class_name, self.properties({}))
            return self.leave(self.refs, slot, typed)
        if marker == 0x0D:  # 2.15 Unsupported Type
            return UNSUPPORTED
        if marker == 0x11:  # 3.1 AVM+ Type Marker: exactly one AMF3 value follows
            return _Amf3(self).value()
        if marker == 0x09:
            raise AmfError("AMF0 object-end marker outside an object")
        if marker in (0x04, 0x0E):  # 2.6 MovieClip and 2.16 RecordSet are reserved
            raise AmfError(f"reserved AMF0 marker {marker:#04x}")
        raise AmfError(f"unknown AMF0 marker {marker:#04x}")

    def properties(self, out: dict[str, Any]) -> dict[str, Any]:
        """Read name/value pairs up to the empty name and object-end marker (2.5, 2.11)."""
        while True:
            name = self.utf8(self.unpack(_U16)[0])
            # An empty name ends the object only when 0x09 follows; otherwise some encoder
            # really used "" as a name, and the value that follows is kept.
            if not name and self.byte() == 0x09:
                return out
            if not name:
                self.pos -= 1
            out[name] = self.value()


class _Amf3:
    """AMF3 reader for one avmplus-object-marker value (AMF3, 3.1-3.14).

    Each switch starts fresh string, object and traits tables: the AMF0 tables cannot
    be shared (different numbering), and an AMF3 reference never reaches back into a
    previous AMF0 value.
    """

    __slots__ = ("objects", "r", "strings", "traits")

    def __init__(self, reader: _Decoder) -> None:
        self.r = reader
        self.strings: list[str] = []
        self.objects: list[Any] = []
        self.traits: list[tuple[str, bool, tuple[str, ...]]] = []

    def u29(self) -> int:
        """AMF3, 1.3.1: 7 bits per byte while the high bit is set, then a full 4th byte."""
        result = 0
        for _ in range(3):
            byte = self.r.byte()
            if byte < 0x80:
                return (result << 7) | byte
            result = (result << 7) | (byte & 0x7F)
        return (result << 8) | self.r.byte()

    def string(self) -> str:
        """AMF3, 3.8 String Type (also names): inline, or an index into the string table."""
        header = self.u29()
        if not header & 1:
            result: str = self.r.lookup(self.strings, header >> 1, "AMF3 string")
            return result
        text = self.r.utf8(header >> 1)
        if text:  # 1.3.2: the empty string is never sent by reference
            self.strings.append(text)
        return text

    def value(self) -> Any:
        r = self.r
        marker = r.byte()
        if marker <= 0x03:  # 3.2-3.5
            return (UNDEFINED, None, False, True)[marker]
        if marker == 0x04:  # 3.6 integer Type: 29 bits, two's complement
            n = self.u29()
            return n - 0x20000000 if n & 0x10000000 else n
        if marker == 0x05:  # 3.7 double Type
            return r.unpack(_DOUBLE)[0]
        if marker == 0x06:
            return self.string()
        if marker > 0x0C:  # 3.15 Vector, 3.16 Dictionary: never seen in RTMP commands
            raise AmfError(f"unsupported AMF3 marker {marker:#04x}")
        header = self.u29()
        if not header & 1:
            return r.lookup(self.objects, header >> 1, "AMF3 object")
        if marker == 0x09:
            return self.array(header >> 1)
        if marker == 0x0A:
            return self.object(header)
        result: Any
        if marker == 0x08:  # 3.10 Date Type: the header's other bits are unused
            result = AmfDate(r.unpack(_DOUBLE)[0])
        elif marker == 0x0C:  # 3.14 ByteArray Type
            start = r.need(header >> 1)
            result = bytes(r.data[start : r.pos])
        else:  # 3.9 XMLDocument Type (0x07) and 3.13 XML Type (0x0B)
            result = XmlDocument(r.utf8(header >> 1))
        self.objects.append(result)
        return result

    def array(self, dense_count: int) -> Any:
        """AMF3, 3.11 Array Type: associative part first, then the dense part.

        Without associative entries this is a ``list``; with them it is an ``EcmaArray``
        holding the dense items under the keys "0", "1", ... as ActionScript sees them.
        """
        slot = self.r.enter(self.objects)
        associative = EcmaArray()
        while name := self.string():
            associative[name] = self.value()
        self.r.check_count(dense_count)
        dense = [self.value() for _ in range(dense_count)]
        result: Any = dense
        if associative:
            result = EcmaArray(zip(map(str, range(dense_count)), dense, strict=True))
            result.update(associative)
        return self.r.leave(self.objects, slot, result)

    def object(self, header: int) -> Any:
        """AMF3, 3.12 Object Type: traits (inline or by reference), sealed, then dynamic."""
        slot = self.r.enter(self.objects)
        if not header & 2:
            class_name, dynamic, members = self.r.lookup(self.traits, header >> 2, "AMF3 traits")
        elif header & 4:
            # The body's format is private to the class's readExternal().
            raise AmfError(f"externalizable AMF3 object {self.string()!r} cannot be decoded")
        else:
            class_name = self.string()
            dynamic = bool(header & 8)
            self.r.check_count(header >> 4)
            members = tuple(self.string() for _ in range(header >> 4))
            self.traits.append((class_name, dynamic, members))
        properties = {name: self.value() for name in members}
        if dynamic:
            while name := self.string():
                properties[name] = self.value()
        result = TypedObject(class_name, properties) if class_name else properties
        return self.r.leave(self.objects, slot, result)
