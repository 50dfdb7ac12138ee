"""The built-in plugin modules of infomix-mixing, each also an entry point in group `infomix`."""

DEFAULT_PLUGINS = ("infomix.mixing.stratified",)
