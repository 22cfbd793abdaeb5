"""Built-in rcodec plugins: one sub-package per codec family, each registered through the public hooks."""
