"""The indicators module (`tickwire.indicators`) stays importable without Dash (the API
imports it)."""

from __future__ import annotations

import subprocess
import sys


def test_the_module_imports_without_dash() -> None:
    script = "import sys, tickwire.indicators; print('dash' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "False"
