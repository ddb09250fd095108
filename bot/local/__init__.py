"""What runs beside a local clone: reading git and agent logs, stamping, the audit."""
