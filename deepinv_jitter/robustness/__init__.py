"""Robustness evaluation: attacks in measurement space, out-of-distribution edits, tables, curves."""
