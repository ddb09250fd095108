"""A fake GitHub REST API on 127.0.0.1 that answers as GitHub documents, for tests and the demo."""
