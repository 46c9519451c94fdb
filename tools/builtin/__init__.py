"""Tools that ship with llmga. They register through the ``llmga.tools`` entry point named
``builtin`` in ``pyproject.toml``, exactly as a third-party plugin would."""

from tools.builtin import image_ops, layout

TOOLS = [*image_ops.TOOLS, *layout.TOOLS]
