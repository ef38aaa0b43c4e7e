"""The private parts of :mod:`edgevision.config`, one module per section of it.

Import the public names from ``edgevision.config``; these modules may change.
See ``edgevision/config.py`` for the map of the sections.
"""
