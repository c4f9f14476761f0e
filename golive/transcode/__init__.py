"""The transcoding ladder: PyAV decodes the source once, scales it per rendition and encodes it
with libx264, off the event loop, for the HLS packager to serve beside the source copy.

- ``ladder``: the configuration and the plan per source (never upscale).
- ``keyframes``: where the keyframes go, the same in every rendition.
- ``degrade``: which renditions go first when the machine cannot keep up.
- ``events``: the commands and events between the event loop and a worker, and the status.
- ``pipeline``: the PyAV pipeline, synchronous (the only module here that loads PyAV).
- ``workers``: where the pipeline runs, a thread or a child process.
- ``session``: the event loop's side of one publish's ladder.
"""
