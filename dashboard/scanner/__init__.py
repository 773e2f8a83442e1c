"""The scanner page's helpers (`pages/scanner.py`): the lists as tables."""
