"""overthink inside UK AISI's Inspect: its logs as overthink stores, overthink's tasks and budget forcing in it.

Needs the optional `inspect` extra (`pip install "overthink[inspect]"`); nothing outside this package
imports inspect_ai.
"""
