"""Model layer: registry (where GGUF files come from), GGUF inspection, FIM formats, and inference backends."""
