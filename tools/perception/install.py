"""``python -m tools.perception.install WHEEL``: put the person segmenter from a downloaded mediapipe wheel
into the model cache (setup.sh runs it); prints the file's path, or one error line and exits 2."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tools.errors import ConfigError
from tools.perception.assets import install_selfie_model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Install the person segmenter from a downloaded mediapipe wheel.")
    parser.add_argument("wheel", type=Path)
    args = parser.parse_args(argv)
    try:
        print(install_selfie_model(args.wheel))  # the one line setup.sh shows
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
