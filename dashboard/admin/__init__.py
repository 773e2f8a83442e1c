"""The admin page's helpers (`pages/admin.py`): the entities it manages, as data, and their
components."""
