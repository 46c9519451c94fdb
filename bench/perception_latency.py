"""Perception figures: load time per model and per-image latency (median of 5 after a warm-up) on this machine.

Run: .venv/bin/python bench/perception_latency.py (about 20 s on 2 cores)."""
import statistics
import sys
import time

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
from tests.perception.photos import photo, two_motorcycles
from tools.models.pool import ModelPool
from tools.perception.checker import DetectorChecker
from tools.perception.masks import mask_for
from tools.perception.models import detector, person_segmenter, pose_estimator
from tools.perception.phrases import parse_phrase, select

pool = ModelPool("tiny")
for name, load in [("detector", detector), ("segmenter", person_segmenter), ("pose", pose_estimator)]:
    t = time.perf_counter(); load(pool); print(f"load {name}: {time.perf_counter()-t:.3f} s")
def bench(label, fn):
    fn(); xs = []
    for _ in range(5):
        t = time.perf_counter(); fn(); xs.append(time.perf_counter() - t)
    print(f"{label}: median {statistics.median(xs)*1000:.0f} ms (min {min(xs)*1000:.0f}, max {max(xs)*1000:.0f})")
ast, moto, coffee = photo("astronaut.png"), two_motorcycles(), photo("coffee.png")
bench("detect astronaut 512x512", lambda: detector(pool).detect(ast))
bench("detect two_motorcycles 1482x500", lambda: detector(pool).detect(moto))
bench("segment astronaut 512x512", lambda: person_segmenter(pool).probability(ast))
bench("pose astronaut 512x512", lambda: pose_estimator(pool).keypoints(ast))
bench("mask_from_words 'the woman' (detect+segment)", lambda: mask_for(pool, ast, select(parse_phrase("the woman"), detector(pool).detect(ast, .4))[0], shape="outline", grow=6))
bench("mask_from_words 'the cup' (detect+GrabCut) 600x400", lambda: mask_for(pool, coffee, select(parse_phrase("the cup"), detector(pool).detect(coffee, .4))[0], shape="outline", grow=6))
c = DetectorChecker(pool)
bench("checker 'Is the cup left of the bowl?'", lambda: c.answer(coffee, "Is the cup left of the bowl?"))
