"""Perception tools on trained offline models: masks from words, pose maps, object boxes, and the
detector-based checker the evaluator uses (``tools.perception.checker``).

Registered through the ``perception`` entry point of the ``llmga.tools`` group, like any plugin.
Importing this package loads no model; each model loads once per process through the pool.
"""

from tools.perception.tools import TOOLS

__all__ = ["TOOLS"]
