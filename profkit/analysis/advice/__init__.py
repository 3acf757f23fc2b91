"""Advice: the findings engine (facts, preconditions, quality gate) and its rules."""
