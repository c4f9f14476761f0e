"""A recording's media playlist (RFC 8216bis): EXT-X-PLAYLIST-TYPE:EVENT while the recording
runs, which only ever grows (4.4.3.5), then VOD with EXT-X-ENDLIST once it has ended.

Sans-I/O: segments in, text out. EXT-X-MAP (4.4.4.5) is written before the first segment and
again whenever the initialization section changes; EXT-X-DISCONTINUITY (4.4.4.3) before a
segment that does not continue the one before it (a reconnect, a pause, a new timeline)."""

from __future__ import annotations

from dataclasses import dataclass, field

PLAYLIST_TYPE_EVENT = "#EXT-X-PLAYLIST-TYPE:EVENT"
PLAYLIST_TYPE_VOD = "#EXT-X-PLAYLIST-TYPE:VOD"
ENDLIST = "#EXT-X-ENDLIST"


@dataclass(frozen=True, slots=True)
class Entry:
    uri: str
    duration: float  # seconds
    map_uri: str  # the initialization section of the segment
    discontinuity: bool = False


@dataclass(slots=True)
class RecordingPlaylist:
    """The segments of one rendition of a recording, in order."""

    # EXT-X-TARGETDURATION: the live window's, which never changes (4.4.3.1); a longer
    # segment (none should be) raises it, so the playlist stays valid.
    target: int = 1
    entries: list[Entry] = field(default_factory=list)
    # Lines of the entries rendered so far: an EVENT playlist only grows, so each segment is
    # rendered once, not on every rewrite.
    _lines: list[str] = field(default_factory=list)
    _map: str = ""
    # Per entry: the lines and the EXT-X-MAP before it, so that ``pop`` can take it back.
    _marks: list[tuple[int, str, int]] = field(default_factory=list)

    def add(self, entry: Entry) -> None:
        self._marks.append((len(self._lines), self._map, self.target))
        if self.entries and entry.discontinuity:
            self._lines.append("#EXT-X-DISCONTINUITY")
        if entry.map_uri != self._map:
            self._lines.append(f'#EXT-X-MAP:URI="{entry.map_uri}"')
            self._map = entry.map_uri
        self._lines.append(f"#EXTINF:{entry.duration:.5f},\n{entry.uri}")
        self.entries.append(entry)
        self.target = max(self.target, round(entry.duration))

    def pop(self) -> None:
        """Take the last entry back (its files could not be written after all)."""
        lines, self._map, self.target = self._marks.pop()
        del self._lines[lines:]
        self.entries.pop()

    @property
    def duration(self) -> float:
        return sum(e.duration for e in self.entries)

    def render(self, ended: bool) -> str:
        head = [
            "#EXTM3U",
            "#EXT-X-VERSION:7",
            f"#EXT-X-TARGETDURATION:{self.target}",
            "#EXT-X-MEDIA-SEQUENCE:0",
            "#EXT-X-DISCONTINUITY-SEQUENCE:0",
            PLAYLIST_TYPE_VOD if ended else PLAYLIST_TYPE_EVENT,
        ]
        tail = [ENDLIST] if ended else []
        return "\n".join([*head, *self._lines, *tail]) + "\n"


def ended_text(text: str) -> str:
    """An EVENT playlist made VOD, as it is when a recording ends: for a recording found
    unfinished on disk at start (the server stopped without ending it)."""
    lines = [PLAYLIST_TYPE_VOD if ln == PLAYLIST_TYPE_EVENT else ln for ln in text.splitlines()]
    if ENDLIST not in lines:
        lines.append(ENDLIST)
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class Variant:
    """A recorded rendition as the multivariant playlist lists it (RFC 8216bis, 4.4.6.2)."""

    uri: str
    bandwidth: int  # the peak segment bit rate, bits per second
    average_bandwidth: int
    codecs: str
    resolution: tuple[int, int] | None


def render_multivariant(variants: list[Variant]) -> str:
    """The recording's multivariant playlist, ``master.m3u8``: the source copy first."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:7"]
    for v in variants:
        attributes = [
            f"BANDWIDTH={max(1, v.bandwidth)}",
            f"AVERAGE-BANDWIDTH={max(1, v.average_bandwidth)}",
        ]
        if v.codecs:
            attributes.append(f'CODECS="{v.codecs}"')
        if v.resolution:
            attributes.append(f"RESOLUTION={v.resolution[0]}x{v.resolution[1]}")
        lines += ["#EXT-X-STREAM-INF:" + ",".join(attributes), v.uri]
    return "\n".join(lines) + "\n"
