"""Run a two-step plan (a two-output pad, then a resize) in a session, for the crash tests.

``python -m tests.reliability.crash_child WORKSPACE SESSION [STEPS]``: with ``LLMGA_TEST_CRASH_AT``
set, the process dies at that write point; with STEPS it runs that many pad/resize pairs (for the
random-kill test) and prints ``ready`` first. Light imports only, so a child starts fast.
"""

from __future__ import annotations

import sys
from pathlib import Path

from graphs.cache import StepCache
from graphs.executor import Executor
from graphs.plan import Plan, bind
from tools.artifacts import Workspace
from tools.builtin import TOOLS
from tools.registry import Registry


def plan(pairs: int) -> Plan:
    steps = []
    for n in range(pairs):
        steps.append({"id": f"pad{n}", "tool": "pad_canvas", "args": {"image": "${image-1}", "left": 1 + n, "top": 2, "fill": "grey"}})
        steps.append({"id": f"small{n}", "tool": "resize", "args": {"image": f"${{pad{n}.image}}", "width": 8 + n}})
    return Plan.model_validate({"steps": steps})


def main() -> int:
    root, session_id = Path(sys.argv[1]), sys.argv[2]
    pairs = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    registry = Registry()
    for tool in TOOLS:
        registry.register(tool, origin="test")
    workspace = Workspace(root)
    session = workspace.session(session_id)
    bound = bind(plan(pairs), registry, session)
    print("ready", flush=True)
    result = Executor(session, StepCache(workspace), max_workers=2, registry=registry).run(bound)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
