"""Shared pieces of the video and audio plugins: file I/O through PyAV, loading their roles of the model
profile through the model pool, and audiocraft's import. No tools live here."""
