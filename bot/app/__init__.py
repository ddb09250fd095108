"""The GitHub App without Flask: event routing, handlers, the worker and its GitHub steps."""
