"""BlazePose GHUM (MediaPipe) person detector and landmark networks, converted to torch."""
