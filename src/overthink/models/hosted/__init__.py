"""Hosted reasoning APIs (OpenAI, Anthropic) through their SDKs: a shared base, batches, and the two backends."""
