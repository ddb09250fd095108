"""The yield engine: commits to tasks and attempts, figures, the audit report. Pure: no I/O."""
