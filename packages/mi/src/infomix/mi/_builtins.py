"""The built-in plugin modules of infomix-mi, each also an entry point in group `infomix`."""

DEFAULT_PLUGINS = ("infomix.mi.gaussian", "infomix.mi.tasks")
