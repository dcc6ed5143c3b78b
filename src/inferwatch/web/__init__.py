"""Static assets of the built-in dashboard, served by ``inferwatch.server.dashboard``."""
