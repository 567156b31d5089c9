"""What each plugin task does: the dispatcher and one module per mode."""
