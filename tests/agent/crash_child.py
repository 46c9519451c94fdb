"""Run one agent turn whose last step is slow, so the parent test can kill this process mid-run."""

from __future__ import annotations

import json
import sys

from agent.conversation import Conversation
from agent.llm.fake import FakeBackend
from agent.nodes import AgentContext
from tests.support import make_runtime

PLAN = {
    "reply": "three steps, the last one slow",
    "steps": [
        {"id": "a", "tool": "note", "args": {"text": "alpha"}},
        {"id": "b", "tool": "shout", "args": {"text": "${a}"}},
        {"id": "c", "tool": "note", "args": {"text": "gamma", "sleep": 5}, "after": ["b"]},
    ],
}

if __name__ == "__main__":
    context = AgentContext(runtime=make_runtime(), backend=FakeBackend([json.dumps(PLAN)]))
    Conversation.open(context, sys.argv[1]).send("make three notes")
