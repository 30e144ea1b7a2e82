"""Where benchmark results go: `benchmarks/results/<name>-<date>.json`, printed as well."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def write_results(result: dict[str, Any], name: str) -> Path:
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{name}-{result['date']}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"wrote {out}")
    return out
