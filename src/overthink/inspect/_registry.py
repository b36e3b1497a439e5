"""What Inspect loads through the `inspect_ai` entry point: importing this module registers overthink's
tasks and model provider with Inspect (the entry point's name, `overthink`, is the registry prefix).

Inspect only logs a warning when an entry point fails to import, so this module imports nothing heavy
(no llama.cpp: the provider loads its engine on first use) and nothing that can fail for want of an
optional extra beyond inspect_ai itself.
"""

from overthink.inspect import provider as _provider  # noqa: F401 (registers overthink/<model>)
from overthink.inspect import tasks as _tasks  # noqa: F401 (registers overthink/<task>)
