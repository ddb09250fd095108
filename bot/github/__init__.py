"""GitHub's REST API for the App: the PyGithub client (``client``) and a local fake (``fake``).

Importing this package imports neither, so the engine and the CLI stay light.
"""
