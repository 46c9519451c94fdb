"""Audio tools: music (MusicGen), sound effects (AudioGen), speech (hibari), and sound on video.

They register through the ``audio`` entry point in ``pyproject.toml`` like any plugin; models load
through ``ToolContext.models`` on first use, never at import (audiocraft included).
"""

from tools.audio import generate, mux

TOOLS = [*generate.TOOLS, *mux.TOOLS]
