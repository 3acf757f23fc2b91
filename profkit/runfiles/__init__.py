"""The files of a run: traces, capture sidecars and run manifests (what each is, and how to read it)."""
