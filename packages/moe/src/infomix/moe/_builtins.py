"""The built-in plugin modules of infomix-moe, each also an entry point in group `infomix`."""

DEFAULT_PLUGINS = ("infomix.moe.routers",)
