"""Real-time (WebSocket) layer: the pure protocol core and the I/O around it."""
