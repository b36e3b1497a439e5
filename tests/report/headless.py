"""Headless Chromium for the report tests: one way to run it, and the report without its CSP.

The report ships a Content-Security-Policy that blocks every script; escaping tests drop it
(`without_csp`) so they check the escaping itself, not the policy.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")


def run_chromium(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Chromium headless with a throwaway profile and no network chatter; skips the test without it."""
    if not CHROMIUM.exists():
        pytest.skip("headless Chromium is not installed (Debian: apt-get install chromium chromium-driver)")
    base = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
            f"--user-data-dir={tmp_path / 'profile'}", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
            "--virtual-time-budget=3000"]
    return subprocess.run(base + args, capture_output=True, text=True, timeout=120, check=False)


def without_csp(report: Path, tmp_path: Path) -> Path:
    """A copy of the report without its CSP <meta>, so a payload that escaped would run."""
    html = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", report.read_text(encoding="utf-8"))
    page = tmp_path / "no_csp.html"
    page.write_text(html, encoding="utf-8")
    return page
