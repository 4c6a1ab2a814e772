"""``python -m siting.assets update|verify``: re-vendor or check the offline map assets."""

from __future__ import annotations

import argparse
import logging
import sys

from siting.assets import update, verify


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m siting.assets",
                                     description="Vendored Leaflet assets for offline maps.")
    parser.add_argument("action", choices=("update", "verify"),
                        help="update: npm ci + copy + MANIFEST.json; verify: check hashes")
    parser.add_argument("--npm", default="npm", help="npm executable (default: npm)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.action == "update":
        print(f"wrote {update(npm=args.npm)}")
    problems = verify()
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    if not problems:
        print("vendored map assets verify against MANIFEST.json and package-lock.json")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
