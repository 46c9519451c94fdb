"""Restoration tools: harmonise generated regions, super-resolve, remove objects.

Registered through the ``restore`` entry point of the ``llmga.tools`` group, like any plugin.
"""

from tools.restore.harmonize import Harmonize
from tools.restore.remove import RemoveObject
from tools.restore.upscale import Upscale

TOOLS = [Harmonize, Upscale, RemoveObject]
