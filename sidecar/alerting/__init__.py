"""Alert rules over the sidecar's own signals, their lifecycle, routing and notifications."""
