"""What can be done: artifact types, the Tool protocol, the plugin registry and built-in tools."""
