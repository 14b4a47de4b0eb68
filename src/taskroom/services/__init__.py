"""Use cases. Each write runs in one transaction that also appends its events to the workspace log;
events are published only after the commit."""
