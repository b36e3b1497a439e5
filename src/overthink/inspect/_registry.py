"""What Inspect loads through the `inspect_ai` entry point: importing this module registers overthink's
tasks and model provider with Inspect (the entry point's name, `overthink`, is the registry prefix)."""
