"""What the template's test modules share: answers, renders, release histories, CI readers.

Test modules import from here (``from helpers.rendering import render``); fixtures that hold
state live in ``tests/conftest.py``.
"""
