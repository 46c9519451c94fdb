"""Diffusion image tools: text-to-image, img2img, similar image, inpaint, outpaint, instruction
editing (InstructPix2Pix, LEDITS++ inversion), ControlNet and layout-to-image (GLIGEN).

They register through the ``diffusion`` entry point in ``pyproject.toml`` like any plugin, and
reach their weights only through ``ToolContext.models`` (the pool), never at import.
"""

from tools.diffusion import control, edit, generate, inpaint, layout

TOOLS = [*generate.TOOLS, *inpaint.TOOLS, *edit.TOOLS, *control.TOOLS, *layout.TOOLS]
