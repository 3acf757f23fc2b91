"""Analysis of one trace or a job of ranks: the façade is profkit.analysis.analyze, the typed result
profkit.analysis.result; docs/architecture.md maps the sub-packages."""
