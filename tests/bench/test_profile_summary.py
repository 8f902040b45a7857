"""bench.profile's summary of py-spy output: own time per function and per package, sleeping threads left out."""

from __future__ import annotations

from pathlib import Path

from bench.profile import summarize

REPO = Path(__file__).resolve().parents[2]


def test_summary_counts_own_time_by_function_and_package_and_skips_the_sleeping_writer(tmp_path: Path) -> None:
    site = "/usr/lib/python3.11/site-packages"
    raw = tmp_path / "worker.txt"
    raw.write_text(
        "\n".join(
            [
                f"run ({REPO}/service/web/api.py:80);extract ({REPO}/service/core/features.py:900) 6",
                f"run ({REPO}/service/web/api.py:80);verify ({site}/jwt/algorithms.py:765) 3",
                f"run ({REPO}/service/web/api.py:80) 1",
                f"_flush_periodically ({REPO}/service/store/feedback.py:190) 40",  # asleep in time.sleep
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    text = summarize([raw], top=10)
    assert text.startswith("10 samples")
    assert "60.0%  service/core/features.py:extract" in text
    assert "30.0%  jwt" in text  # a third-party package is summed under its name
    assert "_flush_periodically" not in text
