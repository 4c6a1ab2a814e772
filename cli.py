#!/usr/bin/env python3
"""siting command line: see `python cli.py --help` and README.md."""

from siting.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
