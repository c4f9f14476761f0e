"""The integration tier: golive's parts together in the test's process, with real sockets and
the outside programs (ffmpeg, ffprobe, GStreamer) that read or write its media. Its RTMP
listener fixture, ``golive_rtmp``, is shared with the end-to-end tier in tests/conftest.py."""
