"""A separate process on the shared workspace + PostgreSQL (settings from LLMGA_* variables):
``crash SID`` runs a turn whose last step is slow (the parent kills it there), ``turns SID N`` runs
N short turns and exits, ``show SID`` prints what this process sees of the session as JSON."""

from __future__ import annotations

import json
import sys

from agent.conversation import Conversation, checkpointer, sessions_with_turns
from agent.llm.fake import FakeBackend
from agent.nodes import AgentContext
from tests.support import make_runtime

CRASH_PLAN = {
    "reply": "three steps, the last one slow",
    "steps": [
        {"id": "a", "tool": "note", "args": {"text": "alpha"}},
        {"id": "b", "tool": "shout", "args": {"text": "${a}"}},
        {"id": "c", "tool": "note", "args": {"text": "gamma", "sleep": 5}, "after": ["b"]},
    ],
}


def note_plan(n: int) -> str:
    return json.dumps({"reply": f"note {n}", "steps": [{"id": "n", "tool": "note", "args": {"text": f"turn{n}"}}]})


def main(command: str, session_id: str, *rest: str) -> None:
    runtime = make_runtime()
    if command == "crash":
        Conversation.open(AgentContext(runtime=runtime, backend=FakeBackend([json.dumps(CRASH_PLAN)])), session_id).send("three notes")
    elif command == "turns":
        count = int(rest[0])
        chat = Conversation.open(AgentContext(runtime=runtime, backend=FakeBackend([note_plan(n) for n in range(1, count + 1)])), session_id)
        for n in range(1, count + 1):
            chat.send(f"note number {n}")
    elif command == "show":
        chat = Conversation.open(AgentContext(runtime=runtime, backend=FakeBackend([])), session_id, create=False)
        state = chat.state()
        print(json.dumps({
            "turn": state.get("turn", 0),
            "turns": len(state.get("turns", [])),
            "pending": list(chat.pending()),
            "sessions": dict(sessions_with_turns(runtime, checkpointer(runtime))),
        }))
    else:
        raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    main(*sys.argv[1:])
