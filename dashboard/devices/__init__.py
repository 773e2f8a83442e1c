"""The devices pages' helpers (`pages/devices.py`, `pages/device.py`): what they read from the
API, the fleet grid's cards, the device page's panels."""
