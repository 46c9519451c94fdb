"""pose_map draws the limbs of a real person; the detector checker answers counts and positions it can
see on photos whose answers are known, skips what it cannot see, and fails noise honestly."""

from __future__ import annotations

import numpy as np

from tests.perception.photos import cup_and_cat, photo, two_cats
from tools.llm.evaluate import evaluate_image
from tools.perception.checker import DetectorChecker, questions_from_request
from tools.perception.models import pose_estimator
from tools.perception.pose import openpose_points, pose_condition


def test_pose_map_has_the_limbs_of_the_astronaut(pool) -> None:
    image = photo("astronaut.png")  # 512x512, head and shoulders to the waist, checked by eye
    drawing, meta = pose_condition(pool, image, 0.3)
    for limb in ("neck-right shoulder", "neck-left shoulder", "neck-nose", "nose-right eye", "nose-left eye"):
        assert limb in meta["limbs"], meta["limbs"]
    assert "right shin" not in meta["limbs"], "her legs are out of the picture"
    keypoints, scores = pose_estimator(pool).keypoints(image)
    points = openpose_points(keypoints, scores, 0.3)
    nose, right_shoulder, left_shoulder = points[0], points[2], points[5]
    assert 180 < nose[0] < 260 and 100 < nose[1] < 160, nose
    assert right_shoulder[0] < 170 and left_shoulder[0] > 270 and 200 < right_shoulder[1] < 320, (right_shoulder, left_shoulder)
    pixels = np.asarray(drawing)
    neck = ((right_shoulder[0] + left_shoulder[0]) // 2, (right_shoulder[1] + left_shoulder[1]) // 2)
    middle = ((neck[0] + right_shoulder[0]) // 2, (neck[1] + right_shoulder[1]) // 2)
    assert pixels[middle[1], middle[0]].any(), "the neck-shoulder line is drawn"
    assert not pixels[480, 480].any(), "black where there is no body"


def test_checker_counts_cats(pool) -> None:
    checker = DetectorChecker(pool)
    assert checker.answer(photo("chelsea.png"), "How many cats are there?").answer == "1"
    assert checker.answer(two_cats(), "How many cats?").answer == "2"
    assert checker.answer(two_cats(), "Are there two cats in the image?").answer == "yes"
    assert checker.answer(photo("chelsea.png"), "Are there two cats?").answer == "no"
    assert checker.answer(photo("chelsea.png"), "Is there a dog?").answer == "no"


def test_checker_answers_left_of_like_geneval(pool) -> None:
    checker = DetectorChecker(pool)
    # coffee.png: one cup on its saucer; the detector also calls the cup a bowl, in the same place:
    # the cup is not left of any bowl.
    assert checker.answer(photo("coffee.png"), "Is the cup left of the bowl?").answer == "no"
    composite = cup_and_cat()  # the coffee photo, then the cat photo to its right
    assert checker.answer(composite, "Is the cup to the left of the cat?").answer == "yes"
    assert checker.answer(composite, "Is the cat left of the cup?").answer == "no"
    assert checker.answer(composite, "Is the cat on the right of the cup?").answer == "yes"
    assert checker.answer(composite, "Is the dog left of the cat?").answer == "no"


def test_checker_skips_what_it_cannot_see(pool) -> None:
    checker = DetectorChecker(pool)
    colour = checker.answer(photo("chelsea.png"), "Is the cat brown?")
    assert colour.answer is None and "colour" in colour.reason
    assert checker.answer(photo("chelsea.png"), "Is the cat sleeping?").answer is None
    assert checker.answer(photo("chelsea.png"), "Is there a fluffy cat?").answer is None, "not answered as 'is there a cat'"


def test_questions_come_from_the_request_without_a_model() -> None:
    assert questions_from_request("a photo of two cats") == ["Are there two cats?"]
    assert questions_from_request("a cup to the left of a bowl") == ["Is there a cup?", "Is there a bowl?", "Is the cup left of the bowl?"]
    assert questions_from_request("a red car") == ["Is there a car?", "Is the car red?"]
    assert questions_from_request("a sunset over the sea") == []


def test_evaluation_with_the_detector_passes_a_photo_and_fails_noise(pool) -> None:
    checker = DetectorChecker(pool)
    good = evaluate_image(None, None, "two cats", two_cats(), detector=checker)
    assert good.checked and good.score == 1.0 and good.evaluator.startswith("detector")
    rng = np.random.default_rng(0)
    from PIL import Image

    noise = Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    bad = evaluate_image(None, None, "a red car", noise, detector=checker)
    assert bad.checked and bad.score == 0.0 and not bad.passed
    assert [s.question for s in bad.skipped] == ["Is the car red?"] and "colour" in bad.skipped[0].reason
    nothing = evaluate_image(None, None, "a sunset over the sea", noise, detector=checker)
    assert not nothing.checked and "names none of the 80 kinds" in nothing.note
