"""Admission at the edge: who a caller is, from where it may connect, how many connections it holds.

Every entry point admits with the same parts: REST (`api/deps.py`), the document endpoint
(`documents/admission.py`) and, through its session factory, `/api/v1/ws`. A fix to admission
made here reaches all of them. The package imports only `security`, `settings` and `wire`.
"""
