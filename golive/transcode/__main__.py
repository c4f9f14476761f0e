"""The transcoding worker process (see ``golive.transcode.session.ProcessWorker``)."""

import sys

from golive.transcode.worker import child_main

child_main(sys.argv[1:])
