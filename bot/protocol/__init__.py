"""The commit-trailer protocol and the commit it rides on. Pure: no I/O."""
