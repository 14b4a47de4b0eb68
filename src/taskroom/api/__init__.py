"""HTTP handlers: parse, call one service method, answer. No business rules here."""
