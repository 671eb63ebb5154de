"""Where the binaries under test are: build/ (or $BERTH_BUILD_DIR).

Test modules import these names from here, never `from conftest import`:
with several conftest.py files in the tree, the module named "conftest"
is whichever pytest loaded last."""
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = Path(os.environ.get("BERTH_BUILD_DIR") or ROOT / "build")
RUNTIME = BUILD / "berth-runtime"
