"""Pictures for the pages, drawn server-side as SVG by pure functions (no
I/O, no aiohttp): every text goes in through `xml.sax.saxutils` escaping."""
