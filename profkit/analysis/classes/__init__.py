"""Operator classes: the built-in rules, the classifier and user rules."""
