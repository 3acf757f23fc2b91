"""The dtypes profkit captures and models in, and their size in bytes."""

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}
