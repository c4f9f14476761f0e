"""What the tests and the benchmarks share: free ports, process groups, `golive serve` in a
subprocess, the nginx configurations of the peers, generated samples, publishers, the browser.

Test modules import from here, never from each other; the benchmarks in scripts/ import from
here too, so that a test and a benchmark start golive and nginx-rtmp the same way.
"""
