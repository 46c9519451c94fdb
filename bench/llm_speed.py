"""How fast the embedded planner model reads a request and writes its answer, per attention setting.

A planner turn is a short request (about 55 new tokens) read after a cached prompt of about 4,400
tokens, then a short answer. This times exactly that on the installed xllamacpp, with llama.cpp's
flash attention on and off, and prints the build's CPU features, prefill tokens/s, decode ms/token
and the ratios. Run it once per build to compare builds (the prebuilt AVX2 wheel against the one
setup.sh compiles for AVX-512):

    HF_HUB_OFFLINE=1 .venv/bin/python bench/llm_speed.py [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.llm.embedded import default_threads, ensure_model, load_server

# About 4,400 tokens, the size of the TaskBench planner prompt with its examples.
SYSTEM = " ".join(f"tool{i}: takes an image and a text and makes an image by editing part {i}." for i in range(210))
REQUESTS = [
    (
        "Please generate an image of a red fox sitting in a snowy forest, then make a video of it running, and add an "
        "audio track of wind blowing; the files are example.jpg and example.wav and example.mp4 here and there, please"
    ),
    (
        "Take example.png, detect the objects in it, crop the dog, describe it in one sentence and translate the "
        "description into French, then say it out loud as speech, and then also tell me what the weather is like today"
    ),
]
ANSWER_TOKENS = 14  # the median structure answer on TaskBench dev


def measure(flash_attention: bool, threads: int) -> dict[str, float]:
    server = load_server(ensure_model(), n_ctx=8192, n_threads=threads, flash_attention=flash_attention)

    def ask(request: str, tokens: int) -> dict[str, float]:
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": request}]
        reply = server.handle_chat_completions({"messages": messages, "max_tokens": tokens, "temperature": 0, "ignore_eos": True})
        return reply["timings"]

    started = time.perf_counter()
    cold = ask("hello", 1)
    print(
        f"  cached prompt: {cold['prompt_n']} tokens in {time.perf_counter() - started:.1f} s ({cold['prompt_per_second']:.1f} tokens/s)"
    )
    runs = [ask(request, ANSWER_TOKENS) for request in REQUESTS * 2]
    out = {
        "prefill_tokens_per_s": statistics.median(r["prompt_per_second"] for r in runs),
        "prefill_ms": statistics.median(r["prompt_ms"] for r in runs),
        "decode_ms_per_token": statistics.median(r["predicted_per_token_ms"] for r in runs),
        "decode_ms": statistics.median(r["predicted_ms"] for r in runs),
    }
    print(
        f"  request {runs[0]['prompt_n']} tokens: prefill {out['prefill_tokens_per_s']:.1f} tokens/s ({out['prefill_ms']:.0f} ms), "
        f"decode {out['decode_ms_per_token']:.1f} ms/token ({out['decode_ms']:.0f} ms for {ANSWER_TOKENS})"
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=default_threads())
    args = parser.parse_args()
    import xllamacpp

    print(f"xllamacpp {xllamacpp.__file__}\n{xllamacpp.get_system_info().strip()}")
    figures = {}
    for flash in (True, False):
        print(f"flash attention {'on' if flash else 'off'}:")
        figures[flash] = measure(flash, args.threads)
    on, off = figures[True], figures[False]
    print(
        f"flash attention off / on: prefill {off['prefill_tokens_per_s'] / on['prefill_tokens_per_s']:.2f}x tokens/s, "
        f"decode {on['decode_ms_per_token'] / off['decode_ms_per_token']:.2f}x faster; "
        f"request read + answer {(off['prefill_ms'] + off['decode_ms']) / 1000:.2f} s against {(on['prefill_ms'] + on['decode_ms']) / 1000:.2f} s"
    )


if __name__ == "__main__":
    main()
