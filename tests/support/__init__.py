"""Test harness: real servers on real sockets, real databases."""
