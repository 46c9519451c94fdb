"""Artifacts: ids, sidecars, atomic writes, PNG recipes, content hashes, input guards."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from PIL import Image

from tools.artifacts import Box, Kind, Layout, Limits, Workspace, png_recipe, read_image
from tools.errors import InputError, LlmgaError


@pytest.fixture
def session(workspace_dir: Path):
    return Workspace(workspace_dir).session("t", create=True)


def test_ids_count_per_kind_and_sidecar_records_the_recipe(session):
    red = Image.new("RGB", (16, 8), "red")
    a = session.add(Kind.IMAGE, red, tool="paint", args={"colour": "red"}, seed=7, models=["m"])
    b = session.add(Kind.IMAGE, red, tool="paint", parents={"image": a.id})
    m = session.add(Kind.MASK, Image.new("L", (16, 8), 255), tool="mask")
    assert (a.id, b.id, m.id) == ("image-1", "image-2", "mask-1")
    sidecar = json.loads((session.root / "image-2.artifact.json").read_text())
    assert sidecar["parents"] == {"image": "image-1"} and sidecar["tool"] == "paint"
    assert a.meta == {"width": 16, "height": 8} and a.seed == 7
    assert [x.id for x in session.artifacts()] == ["image-1", "image-2", "mask-1"]
    assert not [p for p in session.root.iterdir() if p.name.startswith(".")]


def test_png_carries_its_recipe(session):
    a = session.add(Kind.IMAGE, Image.new("RGB", (8, 8)), tool="paint", args={"prompt": "a cat"}, seed=3)
    recipe = png_recipe(session.path(a))
    base = {"id": "image-1", "tool": "paint", "args": {"prompt": "a cat"}, "seed": 3, "models": [], "parents": {}}
    assert {k: recipe[k] for k in base} == base
    assert recipe["sha256"] == a.sha256 and recipe["chain"] == {} and "torch" in recipe["versions"]


def test_content_hash_is_the_pixels_not_the_recipe(session):
    img = Image.new("RGB", (8, 8), "blue")
    a = session.add(Kind.IMAGE, img, tool="x", seed=1)
    b = session.add(Kind.IMAGE, img, tool="y", seed=2)
    c = session.add(Kind.IMAGE, Image.new("RGB", (8, 8), "green"), tool="x")
    assert a.sha256 == b.sha256 != c.sha256


def test_concurrent_adds_get_distinct_ids(session):
    ids: list[str] = []
    lock = threading.Lock()

    def add(n: int) -> None:
        art = session.add(Kind.TEXT, f"t{n}", tool="t")
        with lock:
            ids.append(art.id)

    threads = [threading.Thread(target=add, args=(n,)) for n in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(ids, key=lambda i: int(i.split("-")[1])) == [f"text-{n}" for n in range(1, 25)]


def test_a_failed_write_leaves_nothing_behind(session):
    with pytest.raises(LlmgaError):
        session.add(Kind.IMAGE, 42, tool="bad")
    assert list(session.root.iterdir()) == []
    assert session.add(Kind.TEXT, "ok", tool="t").id == "text-1"


def test_layout_round_trip_and_validation(session):
    layout = Layout(width=64, height=32, boxes=[Box(phrase="cat", box=(0.1, 0.1, 0.5, 0.9))])
    art = session.add(Kind.LAYOUT, layout, tool="plan")
    assert session.handle(art.id).layout() == layout
    assert layout.boxes[0].pixels(64, 32) == (6, 3, 32, 29)
    with pytest.raises(ValueError, match="x0 < x1"):
        Box(phrase="bad", box=(0.5, 0.1, 0.2, 0.9))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        Box(phrase="bad", box=(0.0, 0.0, 1.5, 1.0))


def test_import_reuses_an_identical_earlier_import(session, car_png):
    first = session.import_file(car_png, Kind.IMAGE)
    again = session.import_file(car_png, Kind.IMAGE)
    assert first.id == again.id == "image-1"
    assert len(session.artifacts()) == 1


def test_read_image_guards(tmp_path: Path, car_png: Path):
    corrupt = tmp_path / "broken.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(InputError, match="not a readable image"):
        read_image(corrupt, Limits())
    with pytest.raises(InputError, match="over the 0.001 MP limit"):
        read_image(car_png, Limits(max_pixels=1000))
    with pytest.raises(InputError, match="MiB limit"):
        read_image(car_png, Limits(max_file_bytes=100))
    with pytest.raises(InputError, match="cannot read"):
        read_image(tmp_path / "missing.png", Limits())
    assert read_image(car_png, Limits(), mask=True).mode == "L"


def test_session_ids_are_checked(workspace_dir: Path):
    ws = Workspace(workspace_dir)
    with pytest.raises(InputError, match="invalid session id"):
        ws.session("../escape", create=True)
    with pytest.raises(InputError, match="no session"):
        ws.session("nope")
    assert not (workspace_dir.parent / "escape").exists()
