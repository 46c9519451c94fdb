"""Multi-scene video from a story: scenes, and one fixed description per entity.

The model answers ``StoryPlan``: the entities (characters, animals, vehicles, places that recur)
each with one appearance description, then the scenes, each naming the entities in it. Scene
prompts are *assembled* here, never written by the model: every scene that shows an entity carries
that entity's description word for word, which is what keeps a character looking the same in every
clip. ``video_plan`` turns the scenes into a plan of ``text_to_video`` steps joined by
``concat_clips`` steps, bound through the registry: the video tools are used when installed, and
their absence is reported, not worked around.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, ConfigDict, Field

from prompts import render
from tools.errors import ToolFailure
from tools.llm.protocol import LLMBackend
from tools.llm.structured import Answer, ask

VIDEO_TOOL = "text_to_video"
JOIN_TOOL = "concat_clips"
JOIN_INPUTS = ("first", "second", "third", "fourth")


class Entity(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=40)
    description: str = Field(min_length=8, max_length=300, description="fixed look: species/age, clothing, colours, build")


class Scene(BaseModel):
    model_config = ConfigDict(extra="forbid")
    setting: str = Field(min_length=3, max_length=200)
    action: str = Field(min_length=3, max_length=300)
    entities: list[str] = Field(max_length=6, description="names of the entities in this scene")


class StoryPlan(BaseModel):
    model_config = ConfigDict(extra="forbid")
    entities: list[Entity] = Field(min_length=1, max_length=6)
    scenes: list[Scene] = Field(min_length=1, max_length=8)
    style: str = Field(max_length=120, description="one visual style for every scene")

    def entity(self, name: str) -> Entity:
        return next(e for e in self.entities if e.name.lower() == name.lower())

    def scene_prompt(self, index: int) -> str:
        scene = self.scenes[index]
        people = "; ".join(f"{self.entity(n).name}: {self.entity(n).description}" for n in scene.entities)
        parts = [scene.action, scene.setting, people, self.style]
        return ". ".join(p.strip().rstrip(".") for p in parts if p.strip())

    def prompts(self) -> list[str]:
        return [self.scene_prompt(i) for i in range(len(self.scenes))]


def check_story(plan: StoryPlan, max_scenes: int) -> list[str]:
    problems = []
    names = [e.name.lower() for e in plan.entities]
    if len(set(names)) != len(names):
        problems.append("entity names must be unique")
    if len(plan.scenes) > max_scenes:
        problems.append(f"use at most {max_scenes} scenes")
    used: set[str] = set()
    for index, scene in enumerate(plan.scenes, 1):
        for name in scene.entities:
            if name.lower() not in names:
                problems.append(f"scene {index} names '{name}', which is not an entity; add it to entities or use a listed name")
            used.add(name.lower())
    unused = [e.name for e in plan.entities if e.name.lower() not in used]
    if unused:
        problems.append(f"entities {unused} appear in no scene; drop them or put them in a scene")
    return problems


def plan_story(backend: LLMBackend, story: str, *, max_scenes: int = 4, attempts: int = 3, seed: int | None = None) -> Answer[StoryPlan]:
    messages = [SystemMessage(render("story_system", max_scenes=max_scenes)), HumanMessage(render("story_request", story=story))]
    return ask(backend, messages, StoryPlan, role="plan_story", check=lambda p: check_story(p, max_scenes),
               attempts=attempts, max_tokens=900, seed=seed)


def video_plan(plan: StoryPlan, tools: set[str] | Any, *, frames: int = 16, fps: float = 8.0, steps: int = 25,
               width: int | None = None, height: int | None = None, seed: int = 0, crossfade: float = 0.0) -> dict[str, Any]:
    """One ``text_to_video`` step per scene (same seed, so the noise is shared too) and
    ``concat_clips`` steps that join them four at a time, as a plan's JSON (``ctx.run_plan`` runs it).
    ``tools`` is a registry or a set of names."""
    missing = [name for name in (VIDEO_TOOL, JOIN_TOOL) if name not in tools]
    if missing:
        raise ToolFailure(f"the story needs the video tools {missing}, which are not installed; plan_story gives the scene plan without them")
    steps_out: list[dict[str, Any]] = []
    size = {k: v for k, v in (("width", width), ("height", height)) if v}
    for index, prompt in enumerate(plan.prompts()):
        args = {"prompt": prompt, "frames": frames, "fps": fps, "steps": steps, "seed": seed, **size}
        steps_out.append({"id": f"scene_{index + 1}", "tool": VIDEO_TOOL, "args": args})
    clips = [f"${{scene_{i + 1}.video}}" for i in range(len(plan.scenes))]
    last = clips[0]
    if len(clips) > 1:
        joined, pending, n = clips[0], clips[1:], 0
        while pending:
            n += 1
            batch, pending = pending[: len(JOIN_INPUTS) - 1], pending[len(JOIN_INPUTS) - 1 :]
            args = {"crossfade": crossfade, **dict(zip(JOIN_INPUTS, [joined, *batch], strict=False))}
            steps_out.append({"id": f"join_{n}", "tool": JOIN_TOOL, "args": args})
            joined = f"${{join_{n}.video}}"
        last = joined
    return {"steps": steps_out, "outputs": {"video": last}}
