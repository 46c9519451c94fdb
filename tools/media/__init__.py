"""Shared pieces of the video and audio plugins: file I/O through PyAV, the video/audio model roles of
each profile, tiny offline builds, and loading through the model pool. No tools live here."""
