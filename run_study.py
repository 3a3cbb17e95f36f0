"""Entry point: `python run_study.py --trials 50` (see README.md)."""

from study.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
