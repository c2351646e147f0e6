"""pytest configuration shared by the unit tests and the nbval run of the chapters."""

import os

# Progress bars off and a non-interactive matplotlib backend, here and in every kernel nbval starts.
os.environ.setdefault("DLTNOTES_QUIET", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
# Ledger recording belongs to the book build only; a test run must not write into _build/.
os.environ.pop("DLTNOTES_LEDGER_DIR", None)
os.environ.pop("DLTNOTES_DOCNAME", None)
