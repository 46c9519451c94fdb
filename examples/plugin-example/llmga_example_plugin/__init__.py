"""An example llmga plugin: one tool, declared the same way the built-ins are."""

from PIL import ImageOps
from pydantic import Field

from tools.artifacts import ArtifactHandle, Kind
from tools.base import Input, Tool, ToolContext, ToolParams


class Posterize(Tool):
    """Reduce each colour channel to a few levels, for a flat poster look."""

    name = "posterize"
    inputs = {"image": Input(Kind.IMAGE)}
    outputs = {"image": Kind.IMAGE}

    class Params(ToolParams):
        bits: int = Field(3, ge=1, le=8, description="bits kept per channel")

    def run(self, ctx: ToolContext, params: Params, *, image: ArtifactHandle) -> dict:
        return {"image": ImageOps.posterize(image.image(), params.bits)}


TOOLS = [Posterize]
