"""Video tools: text-to-video, image-to-video, video editing, joining clips, frames and facts.

They register through the ``video`` entry point in ``pyproject.toml`` like any plugin and reach their
models only through ``ToolContext.models`` (the pool), never at import. Videos are MP4 files written
through PyAV (bundled ffmpeg), with fps, frame count and duration in the artifact metadata.
"""

from tools.video import edit, frames, generate

TOOLS = [*generate.TOOLS, *edit.TOOLS, *frames.TOOLS]
