"""Write docs/rules.md from the rule table (`--check`: only test that the committed file is fresh)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing the package

from service.knowledge.doc import REGENERATE  # noqa: E402
from service.knowledge.doc import render_markdown  # noqa: E402

DOC = ROOT / "docs" / "rules.md"


def main(argv: list[str] | None = None) -> int:
    """Write (or, with --check, compare) docs/rules.md; 1 when the committed file is stale."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if docs/rules.md is not up to date")
    args = parser.parse_args(argv)
    text = render_markdown()
    if args.check:
        current = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
        if current != text:
            print(f"docs/rules.md is stale; regenerate it with: {REGENERATE}", file=sys.stderr)
            return 1
        return 0
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
