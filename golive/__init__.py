"""golive: RTMP in, low-latency fMP4 HLS out, in one Python process."""

__version__ = "0.1.0"
