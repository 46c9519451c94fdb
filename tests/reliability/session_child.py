"""Create a session (and store one artifact in it) at an agreed moment, for the concurrency test.

``python -m tests.reliability.session_child WORKSPACE START_TIME [SESSION]``: waits until
START_TIME (a ``time.time()`` value) so that every child starts together, then either makes a new
session or, given SESSION, adds to that one; prints ``session-id artifact-id``.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from tools.artifacts import Kind, Workspace


def main() -> None:
    workspace = Workspace(Path(sys.argv[1]))
    start = float(sys.argv[2])
    time.sleep(max(0.0, start - time.time()))
    session = workspace.session(sys.argv[3]) if len(sys.argv) > 3 else workspace.new_session("race")
    artifact = session.add(Kind.TEXT, f"written by {os.getpid()}", tool="note")
    print(session.id, artifact.id, flush=True)


if __name__ == "__main__":
    main()
