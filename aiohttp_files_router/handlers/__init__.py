"""HTTP handlers: thin, they orchestrate selection, adapters and ID rewriting."""
