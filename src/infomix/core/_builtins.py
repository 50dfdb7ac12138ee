"""The core distribution's built-in plugin modules, each also an entry point in group `infomix`."""

DEFAULT_PLUGINS = ("infomix.ops.backends", "infomix.data.plugin")
