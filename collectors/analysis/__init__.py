"""Pure analysis: text in, typed models and findings out. No I/O, no asyncio."""
