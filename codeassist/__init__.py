"""codeassist: a local, private coding assistant (engine package).

The engine never imports ``codeassist.server``; the server and the CLI call the engine.
"""

__version__ = "0.1.0"
