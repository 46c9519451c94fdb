"""Diffusion image tools (text-to-image, img2img, similar image, inpaint, outpaint).

They register through the ``diffusion`` entry point in ``pyproject.toml`` like any plugin, and
reach their weights only through ``ToolContext.models`` (the pool), never at import.
"""

from tools.diffusion import generate, inpaint

TOOLS = [*generate.TOOLS, *inpaint.TOOLS]
