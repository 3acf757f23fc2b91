"""`profkit sweep`: a grid of captures (or SDPA micro-benchmarks) into one resumable folder.

    from profkit.sweep.grid import make_plan
    from profkit.sweep.run import run_sweep
    plan = make_plan("gpt2", device="cpu", models="gpt2", modes="eager,compiled", batches="1,4")
    rows = run_sweep(plan, "runs/demo")

The folder format (results.csv, manifest.json) is read by profkit.sweep.store,
which imports no torch, so `profkit report` can render a sweep cheaply.
"""
