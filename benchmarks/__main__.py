"""`python -m benchmarks NAME [--quick] ...`: run one benchmark module `benchmarks/NAME.py`.

Each module exposes `main(argv: list[str]) -> int` and prints one JSON object per figure on
stdout: {"figure", "value", "unit", "baseline", "ratio"} with ratio = ours / baseline, both
measured in the same run.
"""
import importlib
import pkgutil
import sys

import benchmarks


def _available() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__)
                  if not m.name.startswith("_") and m.name != "common")


def main(argv: list[str]) -> int:
    names = _available()
    if not argv or argv[0] not in names:
        print(f"usage: python -m benchmarks {{{'|'.join(names)}}} [--quick] [options]", file=sys.stderr)
        return 2
    module = importlib.import_module(f"benchmarks.{argv[0]}")
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
