"""The conversation side: configuration, the executor that runs plans, sessions and the CLI."""
