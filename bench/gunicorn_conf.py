"""The gunicorn settings every benchmark target is served with.

Passed with ``--config``, so the service's own ``gunicorn.conf.py`` (a
start-up check, no per-request effect) stays out and all three targets run
under exactly these: one sync worker per core, the way ``make run`` serves
the service, no access log.
"""

from __future__ import annotations

import os

worker_class = "sync"
workers = int(os.environ.get("BENCH_WORKERS", str(os.cpu_count() or 2)))
backlog = 2048
loglevel = "warning"
accesslog = None

#: How the report names these settings.
SUMMARY = f"{worker_class} workers={workers} (no keep-alive), backlog={backlog}"
