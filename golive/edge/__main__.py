"""``python -m golive.edge``: one HTTP worker, started by ``golive serve`` (golive.edge.supervisor),
its settings on standard input."""

from .worker import main

raise SystemExit(main())
