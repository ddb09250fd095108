"""The ledger: the App's database of commits, pull requests, events and derived tasks.

An I/O adapter around ``bot.engine``: the engine never imports it. ``schema`` holds the tables,
``db`` the engines and migrations, ``store`` the bulk writes and loaders, ``totals`` figures
summed in SQL, ``inbox`` the webhook deliveries and ``tokens`` the API tokens (docs/ledger.md).
"""
