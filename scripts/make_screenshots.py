"""Regenerate screenshots/ from the snapshot tests' scenes (same scripts, same injected clock).

    python scripts/make_screenshots.py
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOTS = ROOT / "tests" / "__snapshots__"
SCREENSHOTS = ROOT / "screenshots"

#: screenshot name → snapshot test that draws it.
SCENES = {
    "streaming.svg": "test_snapshots/TestRunStates.test_streaming_midway.svg",
    "comparison.svg": "test_snapshots/TestRunStates.test_finished_comparison.svg",
    "waiting-without-streaming.svg": "test_snapshots/TestRunStates.test_non_streaming_waiting.svg",
    "error.svg": "test_snapshots/TestRunStates.test_failed.svg",
    "cancelled.svg": "test_snapshots/TestRunStates.test_cancelled.svg",
    "compare-pair.svg": "test_snapshots/TestComparison.test_compare_pair.svg",
    "timeline.svg": "test_snapshots/TestComparison.test_timeline_of_a_streamed_run.svg",
    "history.svg": "test_snapshots/TestHistory.test_history_screen.svg",
    "reasoning.svg": "test_snapshots/TestReasoning.test_reasoning_shown_apart_and_timed.svg",
}


def main() -> int:
    tests = sorted({scene.split("/")[0] for scene in SCENES.values()})
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "--snapshot-update", *(f"tests/{name}.py" for name in tests)],
        cwd=ROOT,
        check=True,
    )
    SCREENSHOTS.mkdir(exist_ok=True)
    for name, scene in SCENES.items():
        shutil.copyfile(SNAPSHOTS / scene, SCREENSHOTS / name)
        print(f"screenshots/{name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
