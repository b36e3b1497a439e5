"""Any OpenAI-compatible server (vLLM, SGLang, llama.cpp server, Ollama): chat and /v1/completions forcing."""
