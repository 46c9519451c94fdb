"""Peak memory of text-to-image + img2img + inpaint + ControlNet through the pool versus four
separate loads, and the load time of a second request (target: 0).

Each variant runs in a fresh subprocess so peak RSS (ru_maxrss) belongs to it alone. CPU only
here; on a GPU run with --profile sd15 to see real sizes. Usage:
    .venv/bin/python bench/pool_memory.py [--profile tiny] [--size 64] [--steps 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile

ROLES = ("text2img", "img2img", "inpaint", "controlnet_canny")

CHILD = r"""
import json, resource, sys, time
import torch
from PIL import Image
from tools.models import ModelPool
torch.set_num_threads(1)
mode, profile, cache, size, steps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
roles = %r
image = Image.new("RGB", (size, size), "grey")
mask = Image.new("L", (size, size), 0); mask.paste(255, (size // 4, size // 4, size // 2, size // 2))
call = {
    "text2img": {},
    "img2img": {"image": image, "strength": 0.9},
    "inpaint": {"image": image, "mask_image": mask},
    "controlnet_canny": {"image": image},
}
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
shared = ModelPool(profile, cache_dir=cache)
pipes, load = {}, 0.0
for role in roles:
    pool = shared if mode == "pool" else ModelPool(profile, cache_dir=cache)  # separate: nothing shared
    t = time.perf_counter(); pipes[role] = pool.pipeline(role); load += time.perf_counter() - t
for role, pipe in pipes.items():
    pipe(prompt="a car", num_inference_steps=steps, height=size, width=size, generator=torch.Generator().manual_seed(0), **call[role])
before = shared.stats.loads
t = time.perf_counter()
for role in roles:  # the second request: the same pool (pool) or a fresh load again (separate)
    (shared if mode == "pool" else ModelPool(profile, cache_dir=cache)).pipeline(role)
second = time.perf_counter() - t
storages = {}
for pipe in pipes.values():
    for m in pipe.components.values():
        if isinstance(m, torch.nn.Module):
            for tensor in [*m.parameters(), *m.buffers()]:
                storages[tensor.untyped_storage().data_ptr()] = tensor.untyped_storage().nbytes()
print(json.dumps({
    "mode": mode, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "rss_before_mib": base / 1024, "load_s": load, "second_request_s": second,
    "second_request_loads": shared.stats.loads - before if mode == "pool" else len(roles),
    "weights_mib": sum(storages.values()) / 2**20,
}))
""" % (ROLES,)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="tiny")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        # build tiny models once so neither variant pays for building
        subprocess.run([sys.executable, "-c", f"from tools.models import ModelPool; ModelPool({args.profile!r}, cache_dir={cache!r}).pipeline('controlnet_canny'); ModelPool({args.profile!r}, cache_dir={cache!r}).pipeline('inpaint')"], check=True, capture_output=True)
        rows = []
        for mode in ("pool", "separate"):
            out = subprocess.run(
                [sys.executable, "-c", CHILD, mode, args.profile, cache, str(args.size), str(args.steps)],
                check=True, capture_output=True, text=True,
            ).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
    print(f"profile={args.profile} size={args.size}px steps={args.steps} roles={', '.join(ROLES)}")
    print(f"{'mode':<9} {'peak RSS MiB':>12} {'RSS before':>10} {'load s':>7} {'2nd req s':>9} {'2nd loads':>9} {'weights MiB':>11}")
    for r in rows:
        print(f"{r['mode']:<9} {r['peak_rss_mib']:>12.1f} {r['rss_before_mib']:>10.1f} {r['load_s']:>7.2f} {r['second_request_s']:>9.5f} "
              f"{r['second_request_loads']:>9} {r['weights_mib']:>11.2f}")


if __name__ == "__main__":
    main()
