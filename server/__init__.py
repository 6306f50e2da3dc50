"""codeassist LSP server (installed as ``codeassist.server``): thin pygls handlers over the engine."""
