"""Knowledge every layer shares: device peaks and calibration, the model table, dtypes, timing noise."""
