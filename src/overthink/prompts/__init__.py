"""The prompt layer (run side): a task's item and prompt transforms in, one rendered prompt out.

render.py writes the words we put around an item (the think/answer format, the budget sentence) and
builds the `RenderedPrompt` every backend sends; shots.py is the example-anchoring transform. Backends
(models/) receive the rendered prompt and never see a task.
"""
