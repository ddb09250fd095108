"""GitHub's REST API for the App: the PyGithub client (``client``).

Importing this package does not import PyGithub, so the engine and the CLI stay light. The fake
GitHub the demo and the tests talk to is ``bot.demo.fake_github``.
"""
