"""The embedded engine: llama-cpp-python on a local GGUF (backend, token-level engine, forcing, GGUF assembly)."""
