"""The built-in plugin modules of infomix-compression, each also an entry point in group `infomix`."""

DEFAULT_PLUGINS = ("infomix.compression.rtn",)
