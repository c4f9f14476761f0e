"""The transcoding worker process (see ``golive.transcode.workers.ProcessWorker``)."""

import sys

from golive.transcode.workers import child_main

child_main(sys.argv[1:])
