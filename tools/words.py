"""The words that make a request call for a tool family: the ``Tool.offered_for`` of tools that a
small planner reaches for where the request never asked for them.

The 1.5B planner dresses plain requests up with busy tools: make_layout + layout_to_image for "a
jazz poster with a saxophone player", canny + controlnet for "a red fox in fresh snow, watercolor
style", detect_objects after "a cat to the left of a dog", plan_story for "a poster for a summer
sale", a video and a soundtrack for "a red fox in fresh snow, watercolor style". Such a tool is
offered when the request says what it is for, when the conversation holds an artifact it takes,
or when it made one of them (``agent.catalogue.offered``): a photo in the session keeps controlnet.
"""

from __future__ import annotations

import re

from tools.artifacts import Kind


def _words(*alternatives: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(alternatives) + r")\b", re.IGNORECASE)


PLACING = _words(
    "left", "right", "above", "below", "beside", "next to", "behind", "in front of", "between", "on top of", "top", "bottom",
    "corners?", "cent(?:er|re)", "middle", "near", "side by side", "rows?", "grid", "layout", "box(?:es)?", "arranged?",
    "arrangement", "positions?", "placed?",
)
"""Words that place things in a picture: what a layout is for (make_layout, plan_layout, layout_to_image)."""

FOLLOWING = _words(
    "edges?", "edge map", "outlines?", "line ?art", "contours?", "canny", "structure", "composition", "poses?", "posed",
    "posture", "stance", "skeleton", "depth", "silhouettes?", "controlnet", "keep(?:s|ing)? (?:the|its) (?:shape|layout|framing)",
)
"""Words for the structure of a picture to keep or show: what canny, pose_map and controlnet are
for. Not "sketch": "a pencil sketch version" is a style (edit), and a sketch to follow is in the
session, which offers controlnet by itself."""

FINDING = _words(
    "detect(?:s|ed|ion)?", "find", "locate", "count", "how many", "where", "objects?", "identify", "recogni[sz]e", "spot",
    "what(?:'s| is) in",
)
"""Words that ask what a picture holds and where: what detect_objects is for."""

TELLING = _words("story", "stories", "storyboard", "scenes?", "narrative", "tale", "plot", "episodes?", "chapters?", "comic")
"""Words of a told story: what plan_story and story_to_video are for."""

MOVING = _words(
    "videos?", "clips?", "films?", "filmed", "filming", "movies?", "animat(?:e|es|ed|ing|ion|ions)", "footage", "gifs?",
    "motion", "moving", "move", "moves", "reels?", "trailers?", "time-?lapse", "cinemagraph", "loop(?:ing)?",
)
"""Words for moving pictures: what the video generators (text_to_video, image_to_video) are for.
The tools that take a video need one made or stored first (``agent.catalogue.reachable``)."""

SOUNDING = _words(
    "sounds?", "audio", "music(?:al)?", "songs?", "sing(?:s|ing)?", "tunes?", "melod(?:y|ies)", "soundtrack", "jingle",
    "voices?", "voiceover", "narrat(?:e|es|ed|ion|or)", "speech", "speak(?:s|ing)?", "spoken", "say(?:s|ing)?", "aloud",
    "read (?:it|this|that|them|the \\w+) out", "podcast", "noise", "beats?", "piano", "guitar", "violin", "drums?", "orchestra(?:l)?",
    "jazz", "hip ?hop", "lo-?fi", "ambient", "hear", "listen", "engine",
)
"""Words for sound: what the audio generators (music, speech, sound_effect) are for."""

PICTURING = _words(
    "images?", "pictures?", "photos?", "photographs?", "visual(?:s|ly|i[sz]e[sd]?|i[sz]ations?)?", "collages?", "panoramas?",
    "illustrat(?:e|es|ed|ion|ions)", "thumbnails?", "drawings?", "draw", "paint(?:s|ed|ing|ings)?", "sketch(?:es)?", "posters?",
    "artworks?", "frames?", "snapshots?", "portraits?", "spectrograms?", "waveforms?", "slideshows?",
)
"""Words for still pictures: what a tool that makes an image from another medium is for."""

MEDIUM_WORDS = {
    kind: re.compile(words.pattern + r"|\.(?:" + extensions + r")\b", re.IGNORECASE)
    for kind, words, extensions in ((Kind.IMAGE, PICTURING, "jpe?g|png|gif|webp|bmp"), (Kind.VIDEO, MOVING, "mp4|mov|avi|webm|mkv"),
                                    (Kind.AUDIO, SOUNDING, "wav|mp3|flac|ogg|m4a"))
}
"""The words (or a file's extension) that name each medium: a tool described only by its types (a benchmark's) that makes
a medium none of its inputs is, is offered where the request names that medium."""
