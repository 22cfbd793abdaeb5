"""Built-in rcodec plugins: one sub-package per codec family, each registered through the public hooks exactly
as a third-party plugin would be (the registry imports the modules listed here instead of reading entry points,
so a source checkout works without installed metadata)."""

BUILTIN = [
    "rcodec.plugins.coders",
    "rcodec.plugins.lossless",
    "rcodec.plugins.jpeg",
    "rcodec.plugins.hyperprior",
    "rcodec.plugins.iscs",
    "rcodec.plugins.pc",
    "rcodec.plugins.inr",
    "rcodec.plugins.vqgan",
    "rcodec.plugins.adaptive",
    "rcodec.plugins.nirvana",
]
